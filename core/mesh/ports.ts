// The mesh's well-known ports (the Diode Standard): authority flows down on COMMAND_PORT,
// telemetry flows up on TELEMETRY_PORT; nothing else carries control.
export const COMMAND_PORT = 8090;
export const TELEMETRY_PORT = 8091;
export const F8_PORT = 8085;
export const CLAIM_PORT = 9443;
// Genesis (docs/genesis.md): the authority's beacon on the underlay (UDP, the same number as the
// command port, on another network) and membership updates on the mesh (authority → node).
export const BEACON_PORT = 8090;
export const SYNC_PORT = 8092;
// Sync sideways (docs/diode.md): named records between nodes that are paired with each other.
export const PEER_SYNC_PORT = 8094;
// The hub's relay frames (core/mesh/relay.ts), inside each spoke's own tunnel with the hub.
export const RELAY_PORT = 8093;
// Path probes and the lighthouse's asks and meets (core/mesh/paths/wire.ts), inside the sessions.
export const PATHS_PORT = 8095;
