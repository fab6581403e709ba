/**
 * The CLI's first module (dist/cli.js evaluates it before any other): on a Node.js older than ecr-mirror needs,
 * one clear line and exit 1, instead of whatever the first newer API would throw. Kept tiny and free of newer
 * syntax so that an old Node.js reaches it.
 */
const NEEDED = 24;
const running = process.versions.node;
if (Number(running.split(".")[0]) < NEEDED) {
  process.stderr.write(
    `ecr-mirror needs Node.js ${NEEDED} or later; this is Node.js ${running} (${process.execPath}).\n` +
      `  hint: install Node.js ${NEEDED} (https://nodejs.org, or nvm install ${NEEDED}) and run ecr-mirror with it\n`,
  );
  process.exit(1);
}
