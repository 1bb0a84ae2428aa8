// The intent catalog's shape: what the router can turn text into, and what a node's executor
// looks opcodes up in. One catalog file is shared by router, signer and executor.

export interface ArgumentValue {
  value: number;
  name: string;
  synonyms: string[];
}

export interface IntentArgument {
  required: boolean;
  /** Words for the kind of argument ('service'): named without a value, the request is incomplete. */
  nouns?: string[];
  values: ArgumentValue[];
}

export interface Intent {
  name: string;
  opcode: number;
  description: string;
  confirm: boolean;
  /** Only asks for information, changes nothing: a question may be read as this intent. */
  readOnly?: boolean;
  /** Each entry: words that, all present in any order, name this intent. */
  keywords: string[];
  /** Weaker keywords: evidence, not enough on their own. */
  hints?: string[];
  /** Phrasing for suggestions, with {target} and optionally {arg}. */
  suggestion?: string;
  /** Example requests with {target} and {arg} placeholders. */
  examples: string[];
  argument?: IntentArgument;
}

export interface Catalog {
  version: 1;
  language?: string;
  description?: string;
  /**
   * all: phrases for every node; allAtEnd: the same only at the end ('reboot all'); except: words
   * that carve nodes out of 'all' (not expressible in one selector); node: nouns for a node.
   */
  targetWords: { all: string[]; allAtEnd: string[]; except: string[]; node: string[] };
  fillers: string[];
  negations: string[];
  /** Words that open a question: a question is read only as a readOnly intent. */
  questionWords: string[];
  outOfScopeCues: string[];
  intents: Intent[];
}
