// The intent catalog shared by router, signer and executor: its types, its opcodes, loading it.
export * from './load.js';
export * from './opcodes.js';
export type * from './types.js';
export * from './text.js';
export * from './scope.js';
