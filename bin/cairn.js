#!/usr/bin/env node
// Cairn's entry point. The sources are TypeScript run by Node 24's type stripping,
// so refuse older Node versions with a clear message instead of a syntax error.
const major = Number(process.versions.node.split('.')[0]);
if (major < 24) {
  process.stderr.write(
    `error: Cairn needs Node.js 24 or newer, but this is Node.js ${process.versions.node}\n` +
      'hint: run it through the project (`npx cairn …` or `npm run cairn -- …`), which uses the pinned node@24, or install Node 24.\n',
  );
  process.exit(1);
}
const { runCli } = await import('../src/cli/main.ts');
process.exitCode = await runCli(process.argv.slice(2));
