// The one rule for node names and role names: lower-case letters, digits and dashes, starting
// with a letter, at most 63 characters (a DNS label). The pipeline file, the join request, the
// membership file, rename and the CLI all check against this pattern, so a role the pipeline
// accepts is never refused at join.
export const NAME_PATTERN = '^[a-z][a-z0-9-]{0,62}$';
export const NAME_MAX_LENGTH = 63;

const NAME = new RegExp(NAME_PATTERN);

export function isName(text: string): boolean {
  return NAME.test(text);
}

/** The refusal for a text that is not a name, or undefined when it is one; `what` is e.g. "name" or "role". */
export function nameProblem(text: string, what = 'name'): string | undefined {
  return isName(text) ? undefined : `invalid ${what} '${text}': lower-case letters, digits and dashes, starting with a letter, at most ${NAME_MAX_LENGTH} characters`;
}

/** `wanted`, or `wanted-2`, `wanted-3`... (cut to stay a name) when it is taken. */
export function uniqueName(wanted: string, taken: Set<string>): string {
  if (!taken.has(wanted)) return wanted;
  for (let n = 2; ; n++) {
    const suffix = `-${n}`;
    const name = wanted.slice(0, NAME_MAX_LENGTH - suffix.length) + suffix;
    if (!taken.has(name)) return name;
  }
}
