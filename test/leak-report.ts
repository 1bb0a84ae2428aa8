// What is still open in this process after a test run, by type, with enough detail to find the
// test that left it: an address for sockets and servers, the callback for timers, the command
// for child processes. The runner prints it before it exits.

/** Handles the process owns whatever the tests did: its own stdio. */
const ownHandles = () => new Set<unknown>([process.stdin, process.stdout, process.stderr]);

export interface LeakReport {
  /** Resource type → count (process.getActiveResourcesInfo(), less the process's own stdio). */
  byType: Record<string, number>;
  /** One line per open handle or timer. */
  details: string[];
}

export function leakReport(): LeakReport {
  const own = ownHandles();
  const proc = process as unknown as { _getActiveHandles(): unknown[] };
  const handles = proc._getActiveHandles().filter((h) => !own.has(h));
  const details = handles.map(describe);
  const byType: Record<string, number> = {};
  // Timers are not handles; the resource list counts them (and pending requests) by type.
  const stdioTypes = [...own].map((s) => ((s as { _handle?: object })._handle?.constructor.name ?? '')).filter(Boolean);
  for (const type of process.getActiveResourcesInfo()) {
    const i = stdioTypes.indexOf(type);
    if (i >= 0) {
      stdioTypes.splice(i, 1);
      continue;
    }
    byType[type] = (byType[type] ?? 0) + 1;
  }
  return { byType, details };
}

function describe(h: unknown): string {
  const name = (h as object).constructor?.name ?? typeof h;
  const o = h as Record<string, any>;
  try {
    if (typeof o.spawnargs === 'object') return `${name} pid ${o.pid}: ${o.spawnargs.join(' ')}`;
    if (typeof o.address === 'function') {
      const a = o.address();
      if (a && typeof a === 'object') return `${name} ${a.address}:${a.port}${typeof o.remoteAddress === 'string' ? ` -> ${o.remoteAddress}:${o.remotePort}` : ''}`;
    }
    if (typeof o._onTimeout === 'function') return `${name} ${o._idleTimeout} ms: ${o._onTimeout.name || 'anonymous'}() ${String(o._onTimeout).slice(0, 80).replace(/\s+/g, ' ')}`;
  } catch {
    // A handle half-closed may refuse to say where it is bound; its type is still worth a line.
  }
  return name;
}

/** The report as the runner prints it (nothing when nothing is left). */
export function formatLeakReport(r: LeakReport): string {
  const types = Object.entries(r.byType);
  if (!types.length && !r.details.length) return '';
  return [
    `leaked handles after the run: ${types.map(([t, n]) => `${t}=${n}`).join(' ') || 'none by type'}`,
    ...r.details.map((d) => `  ${d}`),
  ].join('\n');
}
