// Maps JSON pointers and parse offsets back to line:column in the file the user wrote.
import { findNodeAtLocation, parseTree, printParseErrorCode, type Node, type ParseError } from 'jsonc-parser';

export interface Position {
  line: number;
  column: number;
}

export interface LocatedText {
  root: Node | undefined;
  parseErrors: { message: string; position: Position }[];
  at(pointer: string): Position;
}

export function locate(text: string): LocatedText {
  const errors: ParseError[] = [];
  const root = parseTree(text, errors, { disallowComments: true, allowTrailingComma: false });
  const lineStarts = [0];
  for (let i = 0; i < text.length; i++) if (text[i] === '\n') lineStarts.push(i + 1);
  const position = (offset: number): Position => {
    let lo = 0;
    let hi = lineStarts.length - 1;
    while (lo < hi) {
      const mid = (lo + hi + 1) >> 1;
      if (lineStarts[mid] <= offset) lo = mid;
      else hi = mid - 1;
    }
    return { line: lo + 1, column: offset - lineStarts[lo] + 1 };
  };
  return {
    root,
    parseErrors: errors.map((e) => ({ message: printParseErrorCode(e.error), position: position(e.offset) })),
    at(pointer) {
      if (!root) return { line: 1, column: 1 };
      const path = pointerSegments(pointer);
      // The deepest node that exists: a missing property is reported where its parent is.
      for (let n = path.length; n >= 0; n--) {
        const node = findNodeAtLocation(root, path.slice(0, n));
        if (node) return position(node.parent?.type === 'property' ? node.parent.offset : node.offset);
      }
      return { line: 1, column: 1 };
    },
  };
}

export function pointerSegments(pointer: string): (string | number)[] {
  if (pointer === '') return [];
  return pointer
    .slice(1)
    .split('/')
    .map((s) => s.replace(/~1/g, '/').replace(/~0/g, '~'))
    .map((s) => (/^\d+$/.test(s) ? Number(s) : s));
}

export function pointerOf(segments: (string | number)[]): string {
  return segments.map((s) => `/${String(s).replace(/~/g, '~0').replace(/\//g, '~1')}`).join('');
}
