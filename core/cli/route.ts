// `ppn route "TEXT"`: what service-slm makes of a request, as one JSON object. Routing never
// authorises: the draft still goes through the signer and the policy.
//
// The router is the slm-router plugin's, found by the plugin loader as the host finds stages;
// the CLI uses the module's `createRouter` (the contract's RouterFactory) rather than a stage,
// because `--status` asks the backends for their state, which a stage does not expose.
import { pathToFileURL } from 'node:url';
import { Command, Option } from 'commander';
import { CatalogError, defaultCatalogPath, loadCatalog } from '../catalog/index.js';
import { demoFleet, draftTargets, OLLAMA_DEFAULTS, type BackendName, type RouteResult, type RouterFactory } from '../contracts/index.js';
import { nodePluginFolders } from '../node/services.js';
import { createPluginLoader } from '../runtime/plugins.js';
import { asUsageError, UsageError } from './cli-errors.js';
import { f8Client, findF8 } from './f8-client.js';

const ROUTER_STAGE = 'slm-router';

export const EXIT_DRAFT = 0;
export const EXIT_ABSTAINED = 3;

interface Options {
  router: BackendName;
  catalog?: string;
  ollamaHost?: string;
  model?: string;
  timeout?: string;
  threshold?: string;
  status?: boolean;
  instance?: string;
  f8Url?: string;
  f8Token?: string;
}

export function register(program: Command): void {
  program
    .command('route')
    .description('Turn an operator request into a command draft (service-slm), printed as one JSON object')
    .argument('[text...]', 'the request, e.g. "restart telemetry on leased" (quotes optional)')
    .addOption(new Option('--router <backend>', 'catalog (embedded), ollama, or cascade (catalog, then the model)').choices(['catalog', 'ollama', 'cascade']).default('catalog'))
    .option('--catalog <file>', 'intent catalog', defaultCatalogPath())
    .option('--ollama-host <url>', `Ollama server (default: $OLLAMA_HOST, else ${OLLAMA_DEFAULTS.host})`)
    .option('--model <name>', `model for the ollama and cascade backends (default ${OLLAMA_DEFAULTS.model})`)
    .option('--timeout <ms>', `how long to wait for the model (default ${OLLAMA_DEFAULTS.timeoutMs})`)
    .option('--threshold <0..1>', 'catalog confidence below which it abstains (cascade: asks the model)')
    .option('--status', 'print the state of the router and its backends instead of routing')
    .option('--instance <dir>', "route on the running admin in this instance directory, against the real fleet (F8's dry run)")
    .option('--f8-url <url>', "route through this F8's dry run (with --f8-token or $PPN_F8_TOKEN)")
    .option('--f8-token <token>', 'F8 bearer token (default: $PPN_F8_TOKEN, else the instance\'s f8.token)')
    .addHelpText(
      'after',
      [
        '',
        'Prints {"intent", "opcode", "arg", "argName", "target", "selector", "members", "confidence", "confirm",',
        '"explanation", "suggestions", "reason"}; when the router abstains, intent is null, "reason"',
        'says why and "suggestions" lists requests that would route.',
        'Targets come from the demo fleet (cloud-relay, onprem, leased, admin; group edge; all),',
        "or with --instance ADMIN (or --f8-url) from the real fleet: the admin's F8 drafts it",
        '(nothing is signed) and "targets" lists the nodes it would reach by name and address.',
        '',
        'Exit status: 0 a draft, 3 an abstention (also when the model is unavailable), 2 bad usage',
        '(unknown option, unreadable or invalid catalog), 1 anything else.',
        'With --status: 0 when ready, 3 when degraded or unavailable.',
      ].join('\n'),
    )
    .action(async (words: string[], opts: Options) => {
      const text = words.join(' ').trim();
      if (!text && !opts.status) throw new UsageError('route: give the request text, e.g. ppn route "ping leased"');
      if (opts.instance || opts.f8Url) {
        if (opts.status) throw new UsageError('--status asks the local router; it does not go with --instance or --f8-url');
        process.exitCode = await routeThroughF8(text, opts);
        return;
      }
      const createRouter = await loadRouterFactory();
      const router = createRouter(
        {
          backend: opts.router,
          threshold: opts.threshold === undefined ? undefined : number('--threshold', opts.threshold, 0, 1),
          ollama: {
            host: opts.ollamaHost || process.env.OLLAMA_HOST || undefined,
            model: opts.model,
            timeoutMs: opts.timeout === undefined ? undefined : number('--timeout', opts.timeout, 1, 3_600_000),
          },
        },
        readCatalog(opts.catalog ?? defaultCatalogPath()),
        demoFleet(),
      );
      if (opts.status) {
        const status = await router.status();
        console.log(JSON.stringify(status, null, 2));
        process.exitCode = status.state === 'ready' ? 0 : EXIT_ABSTAINED;
        return;
      }
      const result = await router.route(text);
      console.log(JSON.stringify(toOutput(result), null, 2));
      process.exitCode = result.intent === null ? EXIT_ABSTAINED : EXIT_DRAFT;
    });
}

/** One shape for drafts and abstentions, so scripts read the same fields either way. */
export function toOutput(r: RouteResult): Record<string, unknown> {
  if (r.intent === null) {
    return { intent: null, opcode: null, arg: null, argName: null, target: null, selector: null, members: null, confidence: null, confirm: null, explanation: r.explanation, suggestions: r.suggestions, reason: r.reason };
  }
  const { intent, opcode, arg, argName, target, selector, confidence, confirm, explanation } = r;
  // What the draft names, each with its selector: one node, group or everyone, or a set's members.
  return { intent, opcode, arg, argName, target, selector, members: draftTargets(r), confidence, confirm, explanation, suggestions: [], reason: null };
}

/** The admin's own draft for `text` (F8's dry run): the real fleet's names, groups and policy. */
async function routeThroughF8(text: string, opts: Options): Promise<number> {
  const f8 = f8Client(await findF8(opts));
  const { status, body } = await f8.intent({ text, dryRun: true });
  if (status === 422 && body.reason) {
    console.log(JSON.stringify({ ...toOutput({ intent: null, reason: body.reason, explanation: body.explanation, suggestions: body.suggestions } as RouteResult), targets: [] }, null, 2));
    return EXIT_ABSTAINED;
  }
  if (status === 422) {
    console.log(JSON.stringify({ ...toOutput(body.draft as RouteResult), reason: 'no-targets', error: body.error, targets: [] }, null, 2));
    return EXIT_ABSTAINED;
  }
  if (status !== 200) throw new Error(`F8 answered ${status}: ${body.error}`);
  console.log(JSON.stringify({ ...toOutput(body.draft as RouteResult), targets: body.targets }, null, 2));
  return EXIT_DRAFT;
}

async function loadRouterFactory(): Promise<RouterFactory> {
  const { file } = await createPluginLoader(nodePluginFolders()).load(ROUTER_STAGE, undefined, process.cwd());
  const mod = (await import(pathToFileURL(file).href)) as { createRouter?: unknown };
  if (typeof mod.createRouter !== 'function') throw new Error(`${file} does not export createRouter`);
  return mod.createRouter as RouterFactory;
}

function readCatalog(path: string) {
  return asUsageError(() => loadCatalog(path), CatalogError);
}

function number(option: string, value: string, min: number, max: number): number {
  const n = Number(value);
  if (!Number.isFinite(n) || n < min || n > max) throw new UsageError(`${option} must be a number in ${min}..${max}, got '${value}'`);
  return n;
}
