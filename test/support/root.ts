// Tests that need root (network namespaces, TUN) skip loudly elsewhere, and fail under CI=true
// when they cannot run, so a CI machine that lost its privileges never passes silently.
import { execFileSync } from 'node:child_process';

export function canUseNetns(): string | null {
  if (process.getuid?.() !== 0) return 'not root';
  try {
    execFileSync('ip', ['netns', 'list'], { stdio: 'ignore' });
  } catch {
    return "'ip netns' is not available (install iproute2)";
  }
  return null;
}

/** Call from a mocha `before` hook: skips the suite with a printed reason, or fails it under CI. */
export function requireNetns(ctx: Mocha.Context, needs: string[] = []): void {
  let why = canUseNetns();
  for (const tool of needs) {
    if (why) break;
    try {
      execFileSync('sh', ['-c', `command -v ${tool}`], { stdio: 'ignore' });
    } catch {
      why = `'${tool}' is not installed`;
    }
  }
  if (!why) return;
  if (process.env.CI === 'true') throw new Error(`root-only test cannot run under CI: ${why}`);
  console.log(`      SKIPPED (${why}): this suite needs root, ip netns and ${needs.join(', ') || 'nothing else'}`);
  ctx.skip();
}
