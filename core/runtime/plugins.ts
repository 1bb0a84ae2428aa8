// Finds stage definitions: by type name in <folder>/<type>/index.js of the plugin folders the
// caller names, or through the pipeline file's `plugins` map (a module path relative to the file,
// or a package name). A module whose file
// changed on disk is imported again under a fresh URL, so a reload picks up new code.
import { createHash } from 'node:crypto';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { isAbsolute, join, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import type { StageDefinition } from './define-stage.js';

export interface LoadedPlugin {
  definition: StageDefinition;
  /** The module file, watched for changes. */
  file: string;
  /** Content hash of the module file: a changed hash means a changed stage. */
  hash: string;
}

export interface PluginLoader {
  load(type: string, specifier: string | undefined, baseDir: string): Promise<LoadedPlugin>;
}

/** `folders`: where stage types are found by name (the first that has one wins). */
export function createPluginLoader(folders: readonly string[]): PluginLoader {
  const cache = new Map<string, LoadedPlugin>();
  return {
    async load(type, specifier, baseDir) {
      const file = resolveModuleFile(folders, type, specifier, baseDir);
      const hash = createHash('sha256').update(readFileSync(file)).digest('hex').slice(0, 16);
      const cached = cache.get(file);
      if (cached?.hash === hash) return cached;
      const url = pathToFileURL(file).href + (cached ? `?v=${hash}` : '');
      const mod = (await import(url)) as { default?: StageDefinition };
      const definition = mod.default;
      if (!definition || typeof definition.create !== 'function' || typeof definition.type !== 'string') {
        throw new Error(`${file} does not export a stage definition as default (use defineStage)`);
      }
      if (definition.type !== type) {
        throw new Error(`${file} defines stage type '${definition.type}', not '${type}'`);
      }
      const loaded = { definition, file, hash };
      cache.set(file, loaded);
      return loaded;
    },
  };
}

function resolveModuleFile(folders: readonly string[], type: string, specifier: string | undefined, baseDir: string): string {
  if (specifier === undefined) {
    const file = folders.map((folder) => resolve(folder, type, 'index.js')).find((f) => existsSync(f));
    if (!file) throw new Error(`unknown stage type '${type}' (no ${type}/ in ${folders.join(', ') || 'any plugin folder'}, and not in "plugins")`);
    return file;
  }
  if (specifier.startsWith('.') || isAbsolute(specifier)) {
    const file = resolve(baseDir, specifier);
    if (!existsSync(file)) throw new Error(`plugin module for '${type}' not found: ${file}`);
    return file;
  }
  // A package is looked for beside the pipeline file first (the user's project), then beside ppn.
  try {
    return createRequire(join(baseDir, 'pipeline.json')).resolve(specifier);
  } catch {
    try {
      return fileURLToPath(import.meta.resolve(specifier));
    } catch {
      throw new Error(`plugin package '${specifier}' for '${type}' is not installed (looked from ${baseDir} and from ppn)`);
    }
  }
}

/** The stage types found by name in `folders`. */
export function stageTypesIn(folders: readonly string[]): string[] {
  const types = folders.flatMap((folder) => (existsSync(folder) ? readdirSync(folder).filter((t) => existsSync(resolve(folder, t, 'index.js'))) : []));
  return [...new Set(types)].sort();
}
