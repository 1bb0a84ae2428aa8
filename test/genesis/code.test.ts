import { expect } from 'chai';
import { formatCode, InvalidCodeError, newCode, normaliseCode } from '../../core/genesis/code.js';

describe('genesis codes (Crockford base32)', () => {
  it('makes 8 characters of the Crockford alphabet, different each time', () => {
    const codes = new Set(Array.from({ length: 200 }, () => newCode()));
    expect(codes.size).to.equal(200);
    for (const c of codes) expect(c).to.match(/^[0-9ABCDEFGHJKMNPQRSTVWXYZ]{8}$/);
  });

  it('shows a code as ABCD-EFGH and reads it back', () => {
    const code = newCode();
    expect(formatCode(code)).to.match(/^.{4}-.{4}$/);
    expect(normaliseCode(formatCode(code))).to.equal(code);
  });

  it('forgives case, dashes, spaces, I and L for 1, O for 0', () => {
    expect(normaliseCode('abcd-efgh')).to.equal('ABCDEFGH');
    expect(normaliseCode(' ab cd-ef gh ')).to.equal('ABCDEFGH');
    expect(normaliseCode('iLo0-1234')).to.equal('11001234');
  });

  it('refuses U, other characters and wrong lengths, saying which', () => {
    expect(() => normaliseCode('ABCD-EFGU')).to.throw(InvalidCodeError, "'U' is not used");
    expect(() => normaliseCode('ABCD*EFG')).to.throw(InvalidCodeError, "'*' is not a code character");
    expect(() => normaliseCode('ABCD-EFG')).to.throw(InvalidCodeError, '8 characters expected, got 7');
    expect(() => normaliseCode('')).to.throw(InvalidCodeError, 'got 0');
  });
});
