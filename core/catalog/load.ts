// Loading a catalog: checked against schemas/catalog.schema.json (every error at once) and then
// for what a schema cannot say: unique names and opcodes, reserved opcodes, the default opcode
// table, unique argument values.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { projectRoot } from '../project-root.js';
import { locate } from '../runtime/json-locate.js';
import { checkSchema, type SchemaProblem } from '../runtime/schema-check.js';
import { isReservedOpcode, SITE_OPCODES, STANDARD_OPCODES } from './opcodes.js';
import type { Catalog, Intent, IntentArgument } from './types.js';

export class CatalogError extends Error {
  override name = 'CatalogError';
  constructor(
    readonly file: string,
    readonly problems: string[],
  ) {
    super(`invalid catalog ${file}:\n  ${problems.join('\n  ')}`);
  }
}

const schema = JSON.parse(readFileSync(join(projectRoot(), 'schemas', 'catalog.schema.json'), 'utf8')) as Record<string, unknown>;

export function defaultCatalogPath(): string {
  return join(projectRoot(), 'catalog', 'default.json');
}

/** Reads and checks a catalog file; throws a CatalogError listing every problem with line:column. */
export function loadCatalog(path: string = defaultCatalogPath()): Catalog {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    throw new CatalogError(path, [`cannot read: ${(err as NodeJS.ErrnoException).code ?? String(err)}`]);
  }
  const located = locate(text);
  if (located.parseErrors.length || !located.root) {
    const errors = located.parseErrors.map((e) => `${e.position.line}:${e.position.column} invalid JSON: ${e.message}`);
    throw new CatalogError(path, errors.length ? errors : ['empty file']);
  }
  const data: unknown = JSON.parse(text);
  const problems = validateCatalog(data);
  if (problems.length) {
    throw new CatalogError(
      path,
      problems.map((p) => {
        const at = located.at(p.pointer);
        return `${at.line}:${at.column} ${p.pointer || '/'}: ${p.message}`;
      }),
    );
  }
  return data as Catalog;
}

/** Every problem of a catalog value; none means it is a valid Catalog. */
export function validateCatalog(data: unknown): SchemaProblem[] {
  const problems = checkSchema(schema, data);
  if (problems.length) return problems;
  return checkSemantics(data as Catalog);
}

function checkSemantics(catalog: Catalog): SchemaProblem[] {
  const problems: SchemaProblem[] = [];
  const byName = new Map<string, number>();
  const byOpcode = new Map<number, number>();
  catalog.intents.forEach((intent, i) => {
    const at = `/intents/${i}`;
    const sameName = byName.get(intent.name);
    if (sameName !== undefined) problems.push({ pointer: `${at}/name`, message: `duplicate intent name '${intent.name}' (also /intents/${sameName})` });
    else byName.set(intent.name, i);
    const sameOpcode = byOpcode.get(intent.opcode);
    if (sameOpcode !== undefined) problems.push({ pointer: `${at}/opcode`, message: `duplicate opcode ${hex(intent.opcode)} (also /intents/${sameOpcode})` });
    else byOpcode.set(intent.opcode, i);
    const opcodeProblem = checkOpcode(intent);
    if (opcodeProblem) problems.push({ pointer: `${at}/opcode`, message: opcodeProblem });
    if (intent.argument) problems.push(...checkArgument(intent.argument, `${at}/argument`));
    else if (intent.examples.some((e) => e.includes('{arg}'))) {
      problems.push({ pointer: `${at}/examples`, message: 'examples use {arg} but the intent has no argument' });
    }
  });
  return problems;
}

function checkOpcode(intent: Intent): string | undefined {
  const { opcode, name } = intent;
  if (isReservedOpcode(opcode)) return `opcode ${hex(opcode)} is reserved`;
  const standard = STANDARD_OPCODES.get(opcode);
  if (standard !== undefined) {
    return standard === name ? undefined : `opcode ${hex(opcode)} is '${standard}' in the default catalog, not '${name}'`;
  }
  if (opcode < SITE_OPCODES.min || opcode > SITE_OPCODES.max) {
    return `opcode ${hex(opcode)} is reserved; site-specific intents use ${hex(SITE_OPCODES.min)}..${hex(SITE_OPCODES.max)}`;
  }
  const standardName = [...STANDARD_OPCODES].find(([, n]) => n === name);
  if (standardName) return `'${name}' is opcode ${hex(standardName[0])} in the default catalog`;
  return undefined;
}

function checkArgument(argument: IntentArgument, at: string): SchemaProblem[] {
  const problems: SchemaProblem[] = [];
  const values = new Set<number>();
  const names = new Set<string>();
  argument.values.forEach((v, j) => {
    if (values.has(v.value)) problems.push({ pointer: `${at}/values/${j}/value`, message: `duplicate argument value ${v.value}` });
    if (names.has(v.name)) problems.push({ pointer: `${at}/values/${j}/name`, message: `duplicate argument name '${v.name}'` });
    values.add(v.value);
    names.add(v.name);
  });
  return problems;
}

function hex(n: number): string {
  return `0x${n.toString(16).toUpperCase().padStart(2, '0')}`;
}
