// Where F8's operator token lives: the F8 stage writes it into the admin's instance directory and
// its clients (the CLI, the demo) read it from there.
export const F8_TOKEN_FILE = 'f8.token';
