// Reloads when the pipeline file or a plugin module changes. Folders are watched rather than
// files because editors replace a file on save, which ends a watch on the file itself.
import { watch, type FSWatcher } from 'node:fs';
import { basename, dirname } from 'node:path';

const SETTLE_MS = 150;

export function watchFiles(files: () => string[], onChange: (changed: string) => void): () => void {
  let watchers: FSWatcher[] = [];
  let timer: NodeJS.Timeout | undefined;
  let lastChanged = '';
  const arm = () => {
    for (const w of watchers) w.close();
    const byDir = new Map<string, Set<string>>();
    for (const f of files()) {
      const names = byDir.get(dirname(f)) ?? new Set<string>();
      names.add(basename(f));
      byDir.set(dirname(f), names);
    }
    watchers = [...byDir].map(([dir, names]) =>
      watch(dir, (_event, name) => {
        if (!name || !names.has(name.toString())) return;
        lastChanged = `${dir}/${name}`;
        // An editor's save is several events; act once they stop.
        clearTimeout(timer);
        timer = setTimeout(() => {
          onChange(lastChanged);
          arm();
        }, SETTLE_MS);
      }),
    );
  };
  arm();
  return () => {
    clearTimeout(timer);
    for (const w of watchers) w.close();
  };
}
