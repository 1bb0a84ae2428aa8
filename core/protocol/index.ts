// The command protocol's public API (docs/protocol.md describes the wire format).
export { InvalidKeyError, generateSecret, parseKey, formatKey, publicKeyOf, KEY_LENGTH } from '../keys/index.js';
export { deriveKey, pairSecret, COMMAND_SALT, TELEMETRY_SALT, IDENTITY_SALT, type Channel } from './key-derivation.js';
export { PACKET_LENGTH, COMMAND_VERSION, decodePacket, encodePacket, type CommandFields, type DecodedPacket } from './packet.js';
export { ALL_NODES, targetKind, nodeSelector, groupSelector, type TargetKind } from './target.js';
export { reconstructCounter, MAX_COUNTER } from './counter.js';
export { REPLAY_WINDOW } from './replay-window.js';
export {
  createNodeEpochKeys, nodeKeysOf, authorityPairsOf, createAuthorityKeyCache,
  type NodeEpochKeys, type NodePair, type NodeKeysOption, type AuthorityPair, type AuthorityPairs, type AuthorityKeysOption, type AuthorityKeyCache,
} from './epoch-keys.js';
export { nextEpoch, ROTATE_KEYS_OPCODE } from './key-epochs.js';
export { openAuthorityCounter, type AuthorityCounter, type AuthorityCounterOptions, type CounterSource } from './authority-counter.js';
export { openNodeState, memoryNodeState, type NodeStateStore, type EpochState, type PreviousEpoch } from './node-state.js';
export { openAckCache, openRecentCommands, DEFAULT_ACK_CACHE_SIZE, type AckCache, type RecentCommands } from './ack-cache.js';
export { createSigner, type Signer, type SignerOptions, type CommandDraft, type SignTarget, type SignedCommand } from './signer.js';
export {
  createVerifier, REJECT_REASONS, DEFAULT_FAILED_TAG_CAP,
  type Verifier, type VerifierOptions, type VerifyResult, type AcceptedCommand, type Rejection, type RejectReason, type VerifierStats,
} from './verifier.js';
export { encodeAck, createAckSigner, ACK_STATUSES, ACK_TYPE, MAX_ACK_DETAIL, type AckFields, type AckStatus, type AckSigner, type AckSignerOptions } from './ack.js';
export { createFailureBudget, DEFAULT_FAILURES_PER_SECOND, DEFAULT_FAILURE_BURST, type FailureBudget, type FailureBudgetOptions } from './failure-budget.js';
export {
  createKeyRetiredSigner, createKeyRetiredVerifier, encodeKeyRetired, KEY_RETIRED_LENGTH, KEY_RETIRED_TYPE,
  type KeyRetiredReport, type KeyRetiredRejectReason, type KeyRetiredVerifyResult,
} from './key-retired.js';
export { openAckWindows, type AckWindowStore } from './ack-windows.js';
export {
  createIdentityChangeSigner, createIdentityChangeVerifier, IDENTITY_CHANGE_LENGTH, IDENTITY_CHANGE_TYPE, IDENTITY_CHANGE_REJECT_REASONS,
  type IdentityChange, type IdentityChangeRejectReason, type IdentityChangeVerifyResult,
} from './identity-change.js';
export {
  createAckVerifier, ACK_REJECT_REASONS,
  type AckVerifier, type AckVerifierOptions, type AckVerifyResult, type VerifiedAck, type AckRejectReason,
} from './ack-verifier.js';
