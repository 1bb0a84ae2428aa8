// Helpers for tests that run a pipeline host in-process on files in a scratch folder.
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { pino } from 'pino';
import { firstValueFrom, filter, Subject, type Subscription } from 'rxjs';
import { nodePluginFolders, nodeServices } from '../../core/node/services.js';
import { nodeGraphRules } from '../../core/node/graph-rules.js';
import { projectRoot } from '../../core/project-root.js';
import type { Envelope } from '../../core/runtime/envelope.js';
import { startHost, type Host } from '../../core/runtime/host.js';
import { createPluginLoader } from '../../core/runtime/plugins.js';

/** A fresh folder inside the checkout (so plugin modules written there resolve rxjs and friends). */
export function scratchDir(prefix: string): string {
  const base = join(projectRoot(), 'test-output', 'scratch');
  mkdirSync(base, { recursive: true });
  return mkdtempSync(join(base, `${prefix}-`));
}

export function writePipeline(dir: string, pipeline: object, name = 'pipeline.json'): string {
  const file = join(dir, name);
  writeFileSync(file, JSON.stringify(pipeline, null, 2));
  return file;
}

export function startTestHost(file: string): Promise<Host> {
  return startHost({ file, services: nodeServices(), loader: createPluginLoader(nodePluginFolders()), graphRules: nodeGraphRules(), logger: pino({ level: 'silent' }), retireTimeoutMs: 2_000 });
}

/** Everything a stage emits from now on, with a way to wait for a count. */
export function collect(host: Host, stageId: string) {
  const items: Envelope[] = [];
  const grew = new Subject<number>();
  const sub: Subscription = host.tap(stageId).subscribe((env) => {
    items.push(env);
    grew.next(items.length);
  });
  return {
    items,
    async waitFor(count: number, timeoutMs = 10_000): Promise<void> {
      if (items.length >= count) return;
      let timer: NodeJS.Timeout | undefined;
      const timeout = new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error(`waited ${timeoutMs} ms for ${count} envelopes at ${stageId}; got ${items.length}`)), timeoutMs);
      });
      try {
        await Promise.race([firstValueFrom(grew.pipe(filter((n) => n >= count))), timeout]);
      } finally {
        clearTimeout(timer);
      }
    },
    stop: () => sub.unsubscribe(),
  };
}
