// Which lavapipe the project's own Vulkan runs use (tests, the clean-install test): the one scripts/vulkan-sdk.sh
// unpacks from bookworm-backports into .vulkan-sdk/lavapipe when it is there, else the system's. Bookworm's own
// mesa 22.3.6 lavapipe crashes now and then in its queue thread on ggml's workloads (a call through a freed object,
// seen in CI's generate test and clean-install test); mesa 25.0.7 ran the same workloads clean (docs/building.md).
// A VK_ICD_FILENAMES or VK_DRIVER_FILES already set wins: that is how a developer points the tests at another driver.
import * as fs from 'node:fs';
import * as path from 'node:path';

const manifest = path.join(__dirname, '..', '..', '.vulkan-sdk', 'lavapipe', 'lavapipe.json');

/** The environment variables that select the project's lavapipe, or {} when it is not unpacked or one is set. */
export function lavapipeEnv(env: NodeJS.ProcessEnv = process.env): Record<string, string> {
  if (env.VK_ICD_FILENAMES !== undefined || env.VK_DRIVER_FILES !== undefined) return {};
  return fs.existsSync(manifest) ? { VK_ICD_FILENAMES: manifest } : {};
}
