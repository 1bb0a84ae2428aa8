// The page's scripts are plain ES modules with JSDoc types; the main build skips them (its lib has
// no DOM), so they are type-checked here with their own tsconfig.
import { expect } from 'chai';
import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { projectRoot } from '../../core/project-root.js';
import { webDir } from '../../plugins/f8-ingress/page-files.js';

describe('F8 page scripts', function () {
  this.timeout(60_000);

  it('type-check strictly against the DOM (tsc -p plugins/f8-ingress/web)', async () => {
    const tsc = join(projectRoot(), 'node_modules', 'typescript', 'bin', 'tsc');
    const result = await promisify(execFile)(process.execPath, [tsc, '-p', webDir()]).catch((err) => err);
    expect(`${result.stdout ?? ''}${result.stderr ?? ''}`.trim()).to.equal('');
    expect(result.code ?? 0).to.equal(0);
  });
});
