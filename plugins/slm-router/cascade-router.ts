// Catalog first; when it cannot read a request, ask the model if the server is there; otherwise
// abstain with the catalog's suggestions. A server that is down or lacks the model is a state of
// the router ('degraded'), never an error of the request.
import type { CatalogRouter } from './catalog-router.js';
import type { OllamaRouter } from './ollama-router.js';
import type { RouteResult } from '../../core/sdk/index.js';

export function cascade(catalog: CatalogRouter, model: OllamaRouter): (text: string) => Promise<RouteResult> {
  return async (text) => {
    const first = catalog.assess(text);
    if (!first.unsure) return first.result;
    const second = await model.route(text);
    if (second.intent !== null) {
      return { ...second, explanation: `${second.explanation} (asked because ${stripBackend(first.result.explanation)})` };
    }
    if (first.result.intent !== null) return first.result;
    // Both declined: keep the catalog's reason and suggestions, and say what the model said.
    const modelSaid = second.reason === 'backend-unavailable' || second.reason === 'rejected-answer' ? `model not used: ${second.explanation}` : `model agrees: ${second.explanation}`;
    return { ...first.result, explanation: `${first.result.explanation}; ${modelSaid}`, suggestions: first.result.suggestions.length ? first.result.suggestions : second.suggestions };
  };
}

function stripBackend(explanation: string): string {
  return explanation.replace(/^catalog: /, 'the catalog found: ');
}
