// Reaching a running node's control endpoint from the shell (`ppn status`, `ppn reload`, and the
// F8 commands, which find the admin's F8 through it): the control file in its instance directory
// gives the URL and the token.
import { readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { CONTROL_FILE, type ControlFile } from '../runtime/control-server.js';
import type { HostStatus } from '../runtime/host.js';
import { UsageError } from './cli-errors.js';

/** The instance directory of the node a pipeline file describes, as the host computes it. */
function instanceDirOf(file: string): string {
  let pipeline: { node?: { name?: string; instance?: string } };
  try {
    pipeline = JSON.parse(readFileSync(file, 'utf8'));
  } catch (err) {
    throw new UsageError(`cannot read ${file}: ${(err as Error).message}`);
  }
  const node = pipeline.node ?? {};
  return resolve(dirname(resolve(file)), node.instance ?? `instance/${node.name ?? (pipeline as { role?: string }).role}`);
}

export async function callControl(file: string | undefined, instance: string | undefined, method: string, path: string): Promise<unknown> {
  if (!file && !instance) throw new UsageError('give the pipeline file or --instance DIR of the running node');
  const dir = instance ? resolve(instance) : instanceDirOf(file!);
  let control: ControlFile;
  try {
    control = JSON.parse(readFileSync(join(dir, CONTROL_FILE), 'utf8'));
  } catch {
    throw new Error(`no running node found: ${join(dir, CONTROL_FILE)} is missing (is the node started?)`);
  }
  let res: Response;
  try {
    res = await fetch(control.url + path, { method, headers: { authorization: `Bearer ${control.token}` } });
  } catch {
    throw new Error(`node at ${control.url} (pid ${control.pid}) does not answer; it may have stopped`);
  }
  const body = await res.json();
  if (res.status === 401) throw new Error('the node refused the control token (is it a different run?)');
  return body;
}

/** The running node's status, read through its instance directory. */
export async function readControlStatus(instanceDir: string): Promise<HostStatus> {
  return (await callControl(undefined, instanceDir, 'GET', '/status')) as HostStatus;
}
