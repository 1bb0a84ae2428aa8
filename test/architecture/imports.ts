// Reads the project's own imports: every import/export-from and dynamic import() with a relative
// specifier in the .ts files under a folder, resolved to a path from the project root. Package
// imports (node:*, npm) are not the layering's business and are left out.
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, normalize, relative } from 'node:path';

export interface ImportLine {
  /** Importing file, from the project root (e.g. core/mesh/mesh.ts). */
  file: string;
  line: number;
  /** The specifier as written. */
  specifier: string;
  /** The imported file, from the project root, with the .ts it has in the source tree. */
  target: string;
}

// `import x from '…'`, `import type { x } from '…'`, `export * from '…'` and `import '…'` at the
// start of a line (so examples in comments are not taken), and `import('…')` anywhere.
const STATIC = /^[ \t]*(?:(?:import|export)\b[^'";]*?\bfrom|import)[ \t]*['"]([^'"\n]+)['"]/gm;
const DYNAMIC = /\bimport\(\s*['"]([^'"\n]+)['"]\s*\)/g;

function tsFiles(root: string, dir: string): string[] {
  return readdirSync(join(root, dir)).sort().flatMap((name) => {
    const path = join(dir, name);
    if (name === 'node_modules') return [];
    if (statSync(join(root, path)).isDirectory()) return tsFiles(root, path);
    return name.endsWith('.ts') && !name.endsWith('.d.ts') ? [path] : [];
  });
}

function lineOf(text: string, index: number): number {
  let n = 1;
  for (let i = 0; i < index; i++) if (text.charCodeAt(i) === 10) n++;
  return n;
}

export function importsUnder(root: string, dirs: readonly string[]): ImportLine[] {
  const lines: ImportLine[] = [];
  for (const file of dirs.flatMap((d) => tsFiles(root, d))) {
    const text = readFileSync(join(root, file), 'utf8');
    for (const re of [STATIC, DYNAMIC]) {
      for (const m of text.matchAll(re)) {
        const specifier = m[1];
        if (!specifier.startsWith('.')) continue;
        const target = normalize(join(dirname(file), specifier)).replace(/\.js$/, '.ts');
        lines.push({ file, line: lineOf(text, m.index), specifier, target: relative('.', target) });
      }
    }
  }
  return lines;
}
