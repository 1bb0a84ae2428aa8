// The router's contract: text in, a command draft or an abstention out. A draft is a proposal for
// the signer and the policy to judge; routing never authorises anything.

/** A proposed command: everything the signer needs to build the 16-byte packet, and why. */
export interface Draft {
  intent: string;
  opcode: number;
  arg: number;
  /** The argument value's name ('telemetry', 'debug'), or null for intents without an argument. */
  argName: string | null;
  /** The target's name: a node, a group, or 'all'. */
  target: string;
  /** Target selector of the packet: node id, 0x0100 | group id, or 0xFFFF. */
  selector: number;
  /** 0..1; how sure the backend is. Not a permission. */
  confidence: number;
  /** The operator must confirm before this is signed. */
  confirm: boolean;
  explanation: string;
}

export type AbstainReason =
  | 'out-of-scope'
  | 'ambiguous'
  | 'negated'
  | 'missing-argument'
  | 'no-target'
  | 'unknown-target'
  | 'multiple-targets'
  | 'target-takes-no-commands'
  | 'backend-unavailable'
  | 'rejected-answer';

/** The router declines: nothing is proposed. `suggestions` are phrasings that would route. */
export interface Abstention {
  intent: null;
  reason: AbstainReason;
  explanation: string;
  suggestions: string[];
}

export type RouteResult = Draft | Abstention;

export type BackendName = 'catalog' | 'ollama' | 'cascade';

/** `degraded`: a cascade whose model is unavailable still routes with the catalog alone. */
export type BackendState = 'ready' | 'degraded' | 'unreachable' | 'model-missing' | 'timeout' | 'error';

export interface BackendStatus {
  backend: 'catalog' | 'ollama';
  state: BackendState;
  detail: string;
}

export interface RouterStatus {
  backend: BackendName;
  state: BackendState;
  backends: BackendStatus[];
}

export interface Router {
  route(text: string): Promise<RouteResult>;
  status(): Promise<RouterStatus>;
}

export interface OllamaConfig {
  /** e.g. http://127.0.0.1:11434; the client does not read OLLAMA_HOST, so it is always given. */
  host: string;
  model: string;
  timeoutMs: number;
}

export interface RouterConfig {
  backend: BackendName;
  ollama?: Partial<OllamaConfig>;
  /** Confidence below which the catalog backend abstains (and the cascade asks the model). */
  threshold?: number;
}

export function isDraft(result: RouteResult): result is Draft {
  return result.intent !== null;
}
