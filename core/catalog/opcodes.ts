// Opcode ranges of shared/spec/command-packet.md.

/** The opcodes of the default catalog (shared/spec/command-packet.md): a catalog may omit them, not rename them. */
export const STANDARD_OPCODES: ReadonlyMap<number, string> = new Map([
  [0x01, 'ping'],
  [0x02, 'report-telemetry'],
  [0x03, 'restart-service'],
  [0x04, 'reload-pipeline'],
  [0x05, 'set-log-level'],
  [0x06, 'rotate-keys'],
  [0x07, 'enter-maintenance'],
  [0x08, 'exit-maintenance'],
  [0x09, 'quarantine'],
  [0x0a, 'release-quarantine'],
  [0x0b, 'reboot'],
]);

/** Opcodes a site may give its own intents. */
export const SITE_OPCODES = { min: 0x80, max: 0xfe } as const;

/** 0x00 and 0xFF are never sent. */
export function isReservedOpcode(opcode: number): boolean {
  return opcode === 0x00 || opcode === 0xff;
}
