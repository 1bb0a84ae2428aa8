// What the F8 page suites share: the local mesh (four `ppn run` processes) with nodes waiting
// for approval in the admin's registry, and Debian's chromium driven by playwright-core.
import { existsSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium, type BrowserContext } from 'playwright-core';
import { localFleet, prepareLocalMesh, type LocalNode } from '../../examples/local-mesh/fleet.js';
import { launchLocalMesh, type RunningMesh } from '../../examples/local-mesh/launch.js';
import { projectRoot } from '../../core/project-root.js';
import { formatKey, generateSecret, publicKeyOf } from '../../core/keys/index.js';
import { openRegistry } from '../../core/registry/registry.js';
import { openPairing } from '../../core/genesis/pairing.js';
import { scratchDir } from '../support/pipeline.js';

export const PENDING_NODES = [
  { id: 20, name: 'newcomer' },
  { id: 21, name: 'stranger' },
];

export interface F8Mesh extends RunningMesh {
  fleet: LocalNode[];
  /** Each pending node's join code, by node id, as its join request recorded it. */
  joinCodes: Map<number, string>;
}

/**
 * The seed's fleet plus PENDING_NODES (registered with a join request each, never started). The admin's F8 takes any free
 * port; `ackTimeoutMs` is the signer's deadline for acks, after which a target counts as no-answer.
 * `beforeLaunch` sees the prepared fleet before any process starts (e.g. to put a node's instance
 * directory on a filesystem of its own).
 */
export async function startF8Mesh(prefix: string, ackTimeoutMs: number, beforeLaunch?: (fleet: LocalNode[]) => void): Promise<F8Mesh> {
  const root = scratchDir(prefix);
  const fleet = localFleet(root, 40000 + Math.floor(Math.random() * 20000));
  prepareLocalMesh(fleet);
  const admin = fleet.find((n) => n.role === 'os-network-admin')!;
  const registry = openRegistry(join(admin.instanceDir, 'admin.db'));
  const joinCodes = new Map<number, string>();
  try {
    for (const p of PENDING_NODES) {
      registry.upsertNode(
        {
          ...p,
          aliases: [],
          address: `10.8.0.${p.id}`,
          role: 'os-infrastructure',
          groups: [],
          takesCommands: true,
          publicKey: formatKey(publicKeyOf(generateSecret())),
          status: 'pending',
        },
        'test setup',
      );
      joinCodes.set(p.id, openPairing(registry).recordRequest(p.id));
    }
  } finally {
    registry.close();
  }
  const pipelineCopy = (n: LocalNode) => join(root, `${n.name}.pipeline.json`);
  for (const n of fleet) {
    const pipeline = JSON.parse(readFileSync(join(projectRoot(), 'pipelines', `${n.role}.json`), 'utf8'));
    delete pipeline.$schema;
    // These tests drive health by acks (the fallback for nodes without heartbeats), with last-heard
    // times they set: no telemetry reports to overwrite them. Heartbeats: test/telemetry.
    for (const [id, stage] of Object.entries(pipeline.stages as Record<string, { type: string; inputs?: string[] }>)) {
      if (stage.type === 'telemetry-report' || stage.inputs?.includes('report')) delete pipeline.stages[id];
    }
    if (n.role === 'os-network-admin') {
      pipeline.stages.f8.config.port = 0;
      pipeline.stages.signer.config = { ...pipeline.stages.signer.config, ackTimeoutMs };
    }
    writeFileSync(pipelineCopy(n), JSON.stringify(pipeline, null, 2));
  }
  beforeLaunch?.(fleet);
  const mesh = await launchLocalMesh(fleet, { pipelineFor: pipelineCopy });
  return { ...mesh, fleet, joinCodes };
}

export const CHROMIUM = '/usr/bin/chromium';

/** Call from a mocha `before` hook: skips the suite with a printed reason, or fails it under CI. */
export function requireChromium(ctx: Mocha.Context): void {
  if (existsSync(CHROMIUM)) return;
  if (process.env.CI === 'true') throw new Error(`the browser test cannot run under CI: ${CHROMIUM} is missing (apt-get install chromium)`);
  console.log(`      SKIPPED (${CHROMIUM} is missing): this suite drives Debian's chromium; apt-get install chromium`);
  ctx.skip();
}

/** Headless chromium with a fresh profile that nothing else has touched. */
export function launchChromium(): Promise<BrowserContext> {
  return chromium.launchPersistentContext(mkdtempSync(join(tmpdir(), 'ppn-f8-chromium-')), {
    executablePath: CHROMIUM,
    headless: true,
    args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
    viewport: { width: 1280, height: 860 },
  });
}

/** Where screenshots go (gitignored); printed so CI logs show it. */
export function screenshotDir(): string {
  const dir = join(projectRoot(), 'test-output', 'f8-page');
  mkdirSync(dir, { recursive: true });
  return dir;
}
