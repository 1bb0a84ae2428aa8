// One ajv setup for every kind of file and input the project checks, so all report alike.
import { Ajv, type ErrorObject, type ValidateFunction } from 'ajv';
import addFormatsModule from 'ajv-formats';
import type { JsonSchema } from './define-stage.js';

const addFormats = addFormatsModule as unknown as (ajv: Ajv) => Ajv;

const ajv = addFormats(new Ajv({ allErrors: true, useDefaults: true, strict: false }));
const compiled = new WeakMap<JsonSchema, ValidateFunction>();

export interface SchemaProblem {
  /** JSON pointer of the offending value (for a missing property: of the object lacking it). */
  pointer: string;
  message: string;
}

/** Checks `data` (filling in defaults) and returns every problem, or none. */
export function checkSchema(schema: JsonSchema, data: unknown): SchemaProblem[] {
  let validate = compiled.get(schema);
  if (!validate) {
    validate = ajv.compile(schema);
    compiled.set(schema, validate);
  }
  return validate(data) ? [] : (validate.errors ?? []).map(describe);
}

function describe(e: ErrorObject): SchemaProblem {
  const p = e.params as Record<string, unknown>;
  switch (e.keyword) {
    case 'required':
      return { pointer: e.instancePath, message: `missing required property '${p.missingProperty}'` };
    case 'additionalProperties':
      return { pointer: `${e.instancePath}/${p.additionalProperty}`, message: `unknown property '${p.additionalProperty}'` };
    case 'enum':
      return { pointer: e.instancePath, message: `must be one of ${(p.allowedValues as unknown[]).map((v) => JSON.stringify(v)).join(', ')}` };
    case 'propertyNames':
      return { pointer: e.instancePath, message: `invalid name '${p.propertyName}'` };
    default:
      return { pointer: e.instancePath, message: e.message ?? e.keyword };
  }
}

/** One problem as every message of the project shows it: `/pointer message` (`/` for the root). */
export function formatProblem(p: SchemaProblem): string {
  return `${p.pointer || '/'} ${p.message}`;
}

/** All problems of one value, on one line. */
export function formatProblems(problems: readonly SchemaProblem[]): string {
  return problems.map(formatProblem).join('; ');
}
