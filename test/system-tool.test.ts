// The rule behind system-package tests (test/helpers/system-tool.ts): present runs, absent skips with a notice naming
// the package on a developer's machine, and fails under CI=true.
import t from 'tap';
import { checkSystemTool } from './helpers/system-tool';

const missing = { path: '/nonexistent/chromium', debianPackage: 'chromium', why: 'the browser test' };
t.equal(checkSystemTool({ ...missing, path: process.execPath }, {}), 'present');
const skipped = checkSystemTool(missing, {});
t.ok(
  typeof skipped === 'object' && 'skip' in skipped && /apt-get install chromium/.test(skipped.skip),
  'skipped, naming the package',
);
const failed = checkSystemTool(missing, { CI: 'true' });
t.ok(
  typeof failed === 'object' && 'fail' in failed && /apt-get install chromium/.test(failed.fail),
  'fails under CI=true',
);
