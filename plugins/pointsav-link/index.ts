// The diode (type name 'pointsav-link', kept; docs/diode.md), the Diode Standard: authority flows down, only from the authority, only as command
// packets of permitted opcodes; nothing flows up on the command port. It never touches WireGuard:
// replacing or reconfiguring it swaps this stage alone, and while it is missing nothing passes.
import { filter } from 'rxjs';
import {
  COMMAND_PORT, COMMAND_VERSION, defineStage, logSampler, NODE, PACKET_LENGTH,
  type Envelope, type LinkBlock, type LinkDropReason, type OutboundCommand,
} from '../../core/sdk/index.js';

interface Config {
  /** 'authority': outbound command packets only (on the admin); 'node': inbound commands only. */
  side: 'authority' | 'node';
  /** Opcodes a node executes; empty means every opcode. */
  permittedOpcodes: number[];
  /** How many blocks per reason are logged each minute; all are counted. */
  logPerMinute: number;
}

export default defineStage<Config>({
  type: 'pointsav-link',
  kind: 'transform',
  description: 'The diode: on a node passes only command packets from the authority with permitted opcodes; on the admin only outbound command packets to the command port',
  services: [NODE],
  configSchema: {
    type: 'object',
    required: ['side'],
    additionalProperties: false,
    properties: {
      side: { enum: ['authority', 'node'] },
      permittedOpcodes: { type: 'array', items: { type: 'integer', minimum: 1, maximum: 254 }, uniqueItems: true, default: [] },
      logPerMinute: { type: 'integer', minimum: 0, default: 20 },
    },
  },
  create(ctx, config) {
    const node = ctx.services.get(NODE);
    // The authority's address follows the membership store: a change applies to the next packet.
    let authority = node.membership.authority.address;
    const following = node.membershipStore.changes$.subscribe(({ current }) => {
      if (current.authority.address === authority) return;
      ctx.logger.warn({ from: authority, to: current.authority.address }, 'diode: the authority moved');
      authority = current.authority.address;
    });
    const permitted = new Set(config.permittedOpcodes);
    const sampler = logSampler(config.logPerMinute);

    const block = (env: Envelope, reason: LinkBlock, fields: Record<string, unknown>) => {
      const dropReason: LinkDropReason = `link-${reason}`;
      env.settle({ status: 'dropped', reason: dropReason });
      if (sampler.allow(reason)) ctx.logger.warn({ reason, ...fields }, 'diode blocked');
      return false;
    };

    const inbound = (env: Envelope): boolean => {
      const from = env.meta.from as { address: string; port: number } | undefined;
      const bytes = env.body as Uint8Array;
      if (env.kind !== 'datagram' || !(bytes instanceof Uint8Array)) return block(env, 'not-a-datagram', { kind: env.kind });
      if (from?.address !== authority) return block(env, 'not-authority', { from });
      if (bytes.length !== PACKET_LENGTH || bytes[0] >> 6 !== COMMAND_VERSION) return block(env, 'not-a-command', { from, length: bytes.length });
      if (permitted.size && !permitted.has(bytes[1])) return block(env, 'opcode-not-permitted', { opcode: bytes[1] });
      return true;
    };

    const outbound = (env: Envelope): boolean => {
      if (env.kind !== 'command') return block(env, 'not-a-command', { kind: env.kind });
      const command = env.body as OutboundCommand;
      for (const p of command.packets) {
        if (p.port !== COMMAND_PORT) return block(env, 'wrong-port', { to: `${p.address}:${p.port}` });
        if (p.address === node.membership.address) return block(env, 'to-self', { to: p.address });
        if (p.bytes.length !== PACKET_LENGTH || p.bytes[0] >> 6 !== COMMAND_VERSION) return block(env, 'not-a-command', { to: p.address });
      }
      return true;
    };

    const passes = config.side === 'node' ? inbound : outbound;
    ctx.logger.info(
      { side: config.side, authority, permittedOpcodes: config.permittedOpcodes },
      config.side === 'node' ? 'diode in place: only command packets from the authority pass' : 'diode in place: only command packets to the command port pass',
    );
    return {
      connect: (input$) => input$.pipe(filter(passes)),
      close: async () => following.unsubscribe(),
      status: () => ({ side: config.side, authority, permittedOpcodes: config.permittedOpcodes }),
    };
  },
});
