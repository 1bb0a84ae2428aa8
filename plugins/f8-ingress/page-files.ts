// The operator's web page: a handful of flat files in web/, read from the source tree on each
// request (tsc does not copy them to dist/). Only names of the form "word.ext" with a known type
// are served, so no path can leave the folder.
import { readFile } from 'node:fs/promises';
import type { ServerResponse } from 'node:http';
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { securityHeaders } from './http.js';

const TYPES: Record<string, string> = {
  html: 'text/html; charset=utf-8',
  css: 'text/css; charset=utf-8',
  js: 'text/javascript; charset=utf-8',
  svg: 'image/svg+xml',
};

const here = dirname(fileURLToPath(import.meta.url));

/** web/ beside this module in the sources; from dist/plugins/f8-ingress/, the one in the source tree. */
export const webDir = () => (existsSync(join(here, 'web')) ? join(here, 'web') : join(here, '..', '..', '..', 'plugins', 'f8-ingress', 'web'));

/** Serves the page file `pathname` names; false when it names none (the caller answers 404). */
export async function servePageFile(pathname: string, res: ServerResponse): Promise<boolean> {
  const name = pathname === '/' ? 'index.html' : /^\/([a-z0-9-]+\.[a-z]+)$/.exec(pathname)?.[1];
  const type = name && TYPES[name.slice(name.lastIndexOf('.') + 1)];
  if (!name || !type) return false;
  let content: Buffer;
  try {
    content = await readFile(join(webDir(), name));
  } catch {
    return false;
  }
  res.writeHead(200, { ...securityHeaders, 'content-type': type, 'cache-control': 'no-cache' });
  res.end(content);
  return true;
}
