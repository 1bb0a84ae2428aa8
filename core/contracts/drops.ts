// Why a stage dropped an envelope: the `reason` of a 'dropped' outcome. Stable strings: they name
// the host's drop counters and appear in F8's answers, so tests and callers match these types.
import type { RejectReason } from '../protocol/verifier.js';

/** slm-router: the router declined (the abstention is in the outcome's detail). */
export type RouterDropReason = 'abstained';

/** signer */
/** 'storage-full': the registry could not record the command (SQLITE_FULL), so nothing was sent. */
/** 'scope-refused': the draft does what its text refuses or reaches a node the text leaves out (core/contracts/draft-guard.ts). */
/** 'not-permitted': the operator's grant (core/contracts/operator-policy.ts) does not cover the draft's intent or targets. */
export type SignerDropReason = 'no-targets' | 'needs-confirm' | 'storage-full' | 'scope-refused' | 'not-permitted';

/** pointsav-link (the diode) */
export type LinkBlock = 'not-a-datagram' | 'not-authority' | 'not-a-command' | 'opcode-not-permitted' | 'wrong-port' | 'to-self';
export type LinkDropReason = `link-${LinkBlock}`;

/** verifier: the protocol's receive step that refused the packet. */
export type VerifierDropReason = `command-${RejectReason}`;

/** telemetry-egress */
export type TelemetryEgressDropReason = 'not-an-ack';

/** sync-publish: what could not be sent as a record. */
export type SyncPublishDropReason = 'record-not-json' | 'record-too-large' | 'record-malformed' | 'no-peer-reached';

export type DropReason = RouterDropReason | SignerDropReason | LinkDropReason | VerifierDropReason | TelemetryEgressDropReason | SyncPublishDropReason;
