// How a node moves between command-key epochs (docs/protocol.md, "Key lifecycle"). Every move is
// to the next epoch, so the node and the authority each work out where a move lands without
// telling each other: a node executing rotate-keys signed under e moves to nextEpoch(e), and the
// authority, taking that command's `executed` ack, records the node there.

/** The spec's default-catalog opcode of rotate-keys (shared/spec/command-packet.md). */
export const ROTATE_KEYS_OPCODE = 0x06;

/** The epoch after `epoch`: 0..63, wrapping. */
export const nextEpoch = (epoch: number): number => (epoch + 1) % 64;
