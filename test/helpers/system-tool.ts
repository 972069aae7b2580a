// Tests that need a program from the system (Debian's Chromium today, a Vulkan device later) call this first: on a
// developer's machine without it the test is skipped with a notice naming the package to install, so a fresh
// clone's `npm ci && npm test` passes; under CI=true (.ci/run installs every such package) its absence fails.
import * as fs from 'node:fs';

export interface SystemTool {
  /** The file that must exist, e.g. /usr/bin/chromium. */
  path: string;
  /** The Debian package that provides it. */
  debianPackage: string;
  /** What the test needs it for. */
  why: string;
}

/** 'present', or the notice to skip (or, under CI=true, fail) with. */
export function checkSystemTool(
  tool: SystemTool,
  env: NodeJS.ProcessEnv = process.env,
): 'present' | { skip: string } | { fail: string } {
  if (fs.existsSync(tool.path)) return 'present';
  const notice = `${tool.path} not found: ${tool.why} needs Debian's ${tool.debianPackage} (apt-get install ${tool.debianPackage})`;
  return env.CI === 'true' ? { fail: `${notice}; CI=true, where .ci/run installs it` } : { skip: `${notice}; skipped` };
}
