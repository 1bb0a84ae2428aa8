// The plugin SDK: the one part of core that stages — built in, in examples, in users' packages
// (`import { defineStage } from 'sovereign-mesh/sdk'`) — import. It holds the stage contract,
// what stages exchange (core/contracts), the intent catalog, typed service tokens, and the few
// pure helpers of the wire protocol a stage needs. Anything else of core a stage reaches through
// a service.

// The stage contract and envelopes.
export { defineStage, serviceToken, HOST_SERVICE } from '../runtime/define-stage.js';
export type { JsonSchema, ServiceToken, Services, Stage, StageContext, StageDefinition, StageKind } from '../runtime/define-stage.js';
export type { Envelope, Outcome, SettleListener } from '../runtime/envelope.js';
export type { StageMetrics } from '../runtime/metrics.js';
export { createPushSource, type PushSource } from '../runtime/push-source.js';
export { logSampler } from '../log-sampler.js';
export { checkSchema, formatProblems, type SchemaProblem } from '../runtime/schema-check.js';

// What stages exchange, and the catalog.
export * from '../contracts/index.js';
export * from '../catalog/index.js';

// Services.
export * from './services.js';

// The wire protocol's constants and pure functions (core/protocol, shared/spec/command-packet.md).
export { BEACON_PORT, COMMAND_PORT, F8_PORT, PEER_SYNC_PORT, SYNC_PORT, TELEMETRY_PORT } from '../mesh/ports.js';
export { formatKey, parseKey, publicKeyOf } from '../keys/index.js';
export { NAME_PATTERN } from '../fleet/names.js';
export { nodeAddress } from '../fleet/addresses.js';
export { GENESIS_STATE_FILE } from '../membership/instance-files.js';
export { COMMAND_VERSION, PACKET_LENGTH } from '../protocol/packet.js';
export { ALL_NODES, groupSelector, nodeSelector, targetMatches } from '../protocol/target.js';
export { createSigner } from '../protocol/signer.js';
export { createVerifier, DEFAULT_FAILED_TAG_CAP, type AcceptedCommand, type RejectReason } from '../protocol/verifier.js';
export { openNodeState } from '../protocol/node-state.js';
export { DEFAULT_ACK_CACHE_SIZE, openAckCache, openRecentCommands } from '../protocol/ack-cache.js';
export { createAckSigner, MAX_ACK_DETAIL } from '../protocol/ack.js';
export { createAckVerifier, type AckRejectReason, type VerifiedAck } from '../protocol/ack-verifier.js';
export { DEFAULT_FAILURE_BURST, DEFAULT_FAILURES_PER_SECOND } from '../protocol/failure-budget.js';
export { createKeyRetiredSigner, createKeyRetiredVerifier, KEY_RETIRED_TYPE, type KeyRetiredRejectReason } from '../protocol/key-retired.js';
export { nextEpoch, ROTATE_KEYS_OPCODE } from '../protocol/key-epochs.js';
export { createIdentityChangeSigner, createIdentityChangeVerifier, IDENTITY_CHANGE_TYPE, type IdentityChangeRejectReason } from '../protocol/identity-change.js';
export { createAuthorityKeyCache, createNodeEpochKeys, type AuthorityPair, type AuthorityPairs, type NodeEpochKeys, type NodePair } from '../protocol/epoch-keys.js';
// The authority's command secret per (node, epoch) across a command-key hand-over (signer, telemetry-ingress).
export { stageCommandKeys as authorityCommandKeys, type AuthorityCommandKeys } from '../registry/authority-command-keys.js';

export { createReportSigner, createReportVerifier, MAX_REPORT_LENGTH, REPORT_TYPE, type ReportRejectReason, type ReportVerifyResult } from '../protocol/report.js';
export { FACT_LIMITS, factsSummary, type ReportFacts, type ReportPeer } from '../protocol/report-facts.js';
export { collectFacts } from '../protocol/report-collect.js';
export { DEFAULT_HEALTH_FALLBACK, nodeHealth, type Health, type HealthThresholds } from '../registry/health.js';

export { isStorageFull } from './storage-errors.js';
