// For sources fed by callbacks (sockets, HTTP): the stream connect() returns, and a push() that
// says whether anyone is connected to take the envelope.
import { Observable } from 'rxjs';
import type { Envelope } from './envelope.js';

export interface PushSource {
  readonly stream: Observable<Envelope>;
  /** False when the stage is not connected (yet, or any more): the caller decides what that means. */
  push(env: Envelope): boolean;
  readonly connected: boolean;
}

export function createPushSource(): PushSource {
  let emit: ((env: Envelope) => void) | undefined;
  return {
    stream: new Observable<Envelope>((subscriber) => {
      emit = (env) => subscriber.next(env);
      return () => (emit = undefined);
    }),
    push(env) {
      if (!emit) return false;
      emit(env);
      return true;
    },
    get connected() {
      return emit !== undefined;
    },
  };
}
