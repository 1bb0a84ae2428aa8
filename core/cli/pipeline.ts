// `ppn run | validate | schema | status | reload`: running a node's pipeline and looking after it.
import { join, resolve } from 'node:path';
import { isatty } from 'node:tty';
import { Option, type Command } from 'commander';
import { pino } from 'pino';
import { nameProblem } from '../fleet/names.js';
import { nodePluginFolders, nodeServices } from '../node/services.js';
import { nodeGraphRules } from '../node/graph-rules.js';
import { projectRoot } from '../project-root.js';
import { startControlServer } from '../runtime/control-server.js';
import { PipelineInvalidError, startHost, type HostStatus, type ReloadResult } from '../runtime/host.js';
import { combinedSchema } from '../runtime/pipeline-file.js';
import { createPluginLoader, stageTypesIn } from '../runtime/plugins.js';
import { formatValidationError, validatePipelineFile } from '../runtime/validate.js';
import { registerHostMetrics } from '../runtime/host-metrics.js';
import { createLogStream, defaultLogFormat, LOG_FORMATS, prettyLogStream, type LogFormat } from '../runtime/log-stream.js';
import { registerNodeSeries } from '../node/node-series.js';
import { parseEndpoint } from '../underlay/endpoint.js';
import { watchFiles } from '../runtime/watch.js';
import { asUsageError, UsageError } from './cli-errors.js';
import { callControl } from './control-client.js';
import { statusLines } from './status-view.js';
import { superviseNode, watchLauncher } from './node-process.js';

interface RunOptions {
  role?: string;
  instance?: string;
  watch: boolean;
  stopTimeout: string;
  logLevel: string;
  logFormat?: LogFormat;
  metricsListen?: string;
}

export function register(program: Command): void {
  program
    .command('run')
    .description('Run a node from its pipeline file; reloads on file change, SIGHUP or `ppn reload`')
    .argument('[file]', 'pipeline file')
    .option('--role <name>', 'run pipelines/<name>.json of this checkout')
    .option('--instance <dir>', 'the node\'s instance directory (keys, state); overrides the file\'s node.instance')
    .option('--no-watch', 'do not reload when the file or a plugin module changes')
    .option('--stop-timeout <ms>', 'how long a stop may take; then the process ends whatever it waits for', '5000')
    .option('--log-level <level>', 'fatal, error, warn, info, debug or trace', 'info')
    .addOption(new Option('--log-format <format>', 'pretty (coloured lines for people) or json (one object a line); default: pretty on a terminal, else json').choices(LOG_FORMATS))
    .option('--metrics-listen <host:port>', 'also serve GET /metrics (Prometheus) on this address, e.g. 0.0.0.0:9464 (token in metrics.token unless from loopback)')
    .action(async (file: string | undefined, opts: RunOptions) => {
      watchLauncher();
      const path = pipelinePath(file, opts.role);
      const stopTimeoutMs = Number(opts.stopTimeout);
      if (!Number.isInteger(stopTimeoutMs) || stopTimeoutMs < 1) throw new UsageError(`--stop-timeout must be a whole number of milliseconds, got '${opts.stopTimeout}'`);
      const scrape = opts.metricsListen === undefined ? undefined : asUsageError(() => parseEndpoint(opts.metricsListen!, '--metrics-listen'), Error);
      const rawLog = createLogStream();
      const logStream = (opts.logFormat ?? defaultLogFormat()) === 'pretty' ? await prettyLogStream(rawLog, isatty(1)) : rawLog;
      const logger = pino({ level: opts.logLevel }, logStream);
      let host;
      try {
        host = await startHost({ file: path, services: nodeServices(), loader: createPluginLoader(nodePluginFolders()), graphRules: nodeGraphRules(), logger, instanceDir: opts.instance });
      } catch (err) {
        if (err instanceof PipelineInvalidError) throw new UsageError(`${err.errors.length} problem(s); nothing was started`, err.errors.map(formatValidationError));
        throw err;
      }
      registerHostMetrics(host, () => logStream.counters());
      registerNodeSeries(host);
      // Signals are handled from the moment the host runs: a SIGTERM while the control endpoint
      // starts (its control.json is what launchers wait for) is a stop, not the default death.
      let control: Awaited<ReturnType<typeof startControlServer>> | undefined;
      let unwatch = () => {};
      const reload = (why: string) =>
        host
          .reload()
          .then((r) => logger.info({ why, ok: r.ok, added: r.added, changed: r.changed, removed: r.removed }, 'reload finished'))
          .catch((err: unknown) => logger.error({ why, err: String(err) }, 'reload failed'));
      superviseNode({
        logger,
        stopTimeoutMs,
        reload,
        steps: [
          { name: 'file watch', run: async () => unwatch() },
          // The pipeline gets most of the time; closing the control endpoint is quick.
          { name: 'pipeline', run: (deadline) => host.stop(deadline - Math.min(500, stopTimeoutMs / 4)) },
          {
            name: 'control endpoint',
            run: async () => {
              const fileLeft = control && (await control.close()).fileLeft;
              return fileLeft ? { problem: `could not remove ${fileLeft}` } : undefined;
            },
          },
        ],
      });
      try {
        control = await startControlServer(host, { port: host.status().config.node.statusPort ?? 0, scrape, extraStatus: () => ({ log: logStream.counters() }) });
      } catch (err) {
        await host.stop(Date.now() + stopTimeoutMs);
        throw err;
      }
      if (opts.watch) unwatch = watchFiles(() => host.watchedFiles(), (f) => reload(`changed: ${f}`));
      // Said last, once the node is wholly up (file watch and signals included): launchers and
      // tests wait for this line.
      logger.info({ control: `http://127.0.0.1:${control.port}`, ...(scrape && { metrics: `http://${scrape.host}:${control.scrapePort}/metrics` }) }, 'control endpoint on loopback');
    });

  program
    .command('validate')
    .description('Check pipeline files: every problem with file:line:column, JSON pointer and stage id')
    .argument('<files...>', 'pipeline files')
    .action(async (files: string[]) => {
      const deps = { loader: createPluginLoader(nodePluginFolders()), services: nodeServices(), graphRules: nodeGraphRules() };
      const problems: string[] = [];
      for (const f of files) {
        const result = await validatePipelineFile(f, deps);
        if (result.ok) console.log(`${resolve(f)}: valid (${Object.keys(result.valid.pipeline.stages).length} stages)`);
        else problems.push(...result.errors.map(formatValidationError));
      }
      if (problems.length) throw new UsageError(`${problems.length} problem(s)`, problems);
    });

  program
    .command('schema')
    .description('Print the JSON Schema of pipeline files, with every built-in stage type (for editors)')
    .action(async () => {
      const folders = nodePluginFolders();
      const loader = createPluginLoader(folders);
      const schemas: Record<string, Record<string, unknown>> = {};
      for (const type of stageTypesIn(folders)) schemas[type] = (await loader.load(type, undefined, process.cwd())).definition.configSchema;
      const sections = nodeServices().flatMap((s) => (s.section ? [s.section] : []));
      console.log(JSON.stringify(combinedSchema(schemas, sections), null, 2));
    });

  program
    .command('status')
    .description("Show a running node's stages and services (the mesh's peers, the registry), counters, reloads and active config")
    .argument('[file]', 'the pipeline file the node runs')
    .option('--instance <dir>', 'the running node\'s instance directory')
    .option('--json', 'print the whole status as JSON')
    .action(async (file: string | undefined, opts: { instance?: string; json?: boolean }) => {
      const status = (await callControl(file, opts.instance, 'GET', '/status')) as HostStatus;
      if (opts.json) return console.log(JSON.stringify(status, null, 2));
      for (const line of statusLines(status)) console.log(line);
    });

  program
    .command('reload')
    .description('Ask a running node to reload its pipeline file now')
    .argument('[file]', 'the pipeline file the node runs')
    .option('--instance <dir>', 'the running node\'s instance directory')
    .action(async (file: string | undefined, opts: { instance?: string }) => {
      const r = (await callControl(file, opts.instance, 'POST', '/reload')) as ReloadResult;
      if (r.ok) console.log(`reloaded: added [${r.added}] changed [${r.changed}] removed [${r.removed}]`);
      else throw new Error(`reload rejected; the node runs as before:\n${r.errors.join('\n')}`);
    });
}

function pipelinePath(file: string | undefined, role: string | undefined): string {
  if (file && role) throw new UsageError('give a pipeline file or --role, not both');
  if (role) {
    const problem = nameProblem(role, 'role');
    if (problem) throw new UsageError(problem);
    return join(projectRoot(), 'pipelines', `${role}.json`);
  }
  if (!file) throw new UsageError('give a pipeline file or --role NAME');
  return file;
}
