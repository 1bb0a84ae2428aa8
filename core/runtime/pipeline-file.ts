// The shape of a pipeline file: what a node is. Its JSON Schema lives beside the types so the two
// cannot drift; `ppn schema` adds each stage type's config schema to it.
import { NAME_PATTERN } from '../fleet/names.js';
import type { JsonSchema } from './define-stage.js';

export interface StageSpec {
  type: string;
  inputs: string[];
  config: Record<string, unknown>;
}

export interface PipelineFile {
  role: string;
  /** Optional when one role file serves several nodes: `ppn run --instance DIR` names the node. */
  node: { name?: string; instance?: string; statusPort?: number };
  services: Record<string, Record<string, unknown>>;
  /** Stage types found outside plugins/: type name → module path (relative to the file) or package. */
  plugins: Record<string, string>;
  stages: Record<string, StageSpec>;
}

export const STAGE_ID = '^[a-z][a-z0-9-]{0,62}$';

export const pipelineSchema: JsonSchema = {
  $schema: 'http://json-schema.org/draft-07/schema#',
  $id: 'https://sovereign-mesh.invalid/schemas/pipeline.schema.json',
  title: 'ppn pipeline file',
  type: 'object',
  required: ['role', 'stages'],
  additionalProperties: false,
  properties: {
    $schema: { type: 'string' },
    role: { type: 'string', pattern: NAME_PATTERN, description: 'What this node is, e.g. os-infrastructure' },
    node: {
      type: 'object',
      additionalProperties: false,
      default: {},
      properties: {
        name: { type: 'string', pattern: NAME_PATTERN },
        instance: { type: 'string', minLength: 1, description: 'Instance directory; default ./instance/<name>' },
        statusPort: { type: 'integer', minimum: 0, maximum: 65535, description: 'Loopback status port; 0 picks one' },
      },
    },
    services: {
      type: 'object',
      propertyNames: { pattern: '^[a-z][a-z0-9-]*$' },
      additionalProperties: { type: 'object' },
      default: {},
    },
    plugins: {
      type: 'object',
      propertyNames: { pattern: '^[a-z][a-z0-9-]*$' },
      additionalProperties: { type: 'string', minLength: 1 },
      default: {},
    },
    stages: {
      type: 'object',
      minProperties: 1,
      propertyNames: { pattern: STAGE_ID },
      additionalProperties: {
        type: 'object',
        required: ['type'],
        additionalProperties: false,
        properties: {
          type: { type: 'string', pattern: '^[a-z][a-z0-9-]*$' },
          inputs: { type: 'array', items: { type: 'string' }, uniqueItems: true, default: [] },
          config: { type: 'object', default: {} },
        },
      },
    },
  },
};

/** A top-level section of the file that configures one service (see ServiceDefinition.section). */
export interface FileSection {
  readonly key: string;
  readonly description: string;
}

const withSections = new Map<string, JsonSchema>();

/** The file schema of a host whose services keep settings in these top-level sections. */
export function pipelineSchemaWith(sections: readonly FileSection[]): JsonSchema {
  const key = JSON.stringify(sections);
  let schema = withSections.get(key);
  if (!schema) {
    // Sections go after `node`, so the printed schema reads in the order of a file.
    const { $schema, role, node, ...rest } = pipelineSchema.properties as Record<string, JsonSchema>;
    const own = Object.fromEntries(sections.map((s) => [s.key, { type: 'object', description: s.description }]));
    schema = { ...pipelineSchema, properties: { $schema, role, node, ...own, ...rest } };
    withSections.set(key, schema);
  }
  return schema;
}

/** The file schema with every known stage type's config schema attached, for editors. */
export function combinedSchema(stageSchemas: Record<string, JsonSchema>, sections: readonly FileSection[]): JsonSchema {
  const base = pipelineSchemaWith(sections);
  const stage = (base.properties as any).stages.additionalProperties;
  return {
    ...base,
    properties: {
      ...(base.properties as object),
      stages: {
        ...(base.properties as any).stages,
        additionalProperties: {
          ...stage,
          properties: { ...stage.properties, type: { ...stage.properties.type, enum: Object.keys(stageSchemas).sort() } },
          allOf: Object.entries(stageSchemas).map(([type, schema]) => ({
            if: { properties: { type: { const: type } } },
            then: { properties: { config: schema } },
          })),
        },
      },
    },
  };
}
