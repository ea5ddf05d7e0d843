/**
 * Standalone entry for the sandbox (`node sandbox/main.ts start ...`), the same
 * command `cairn sandbox` runs; useful before/without the full CLI and in tests
 * that need the sandbox in its own process.
 */
import { Command } from 'commander';
import { registerSandboxCommand } from './command.ts';

const program = new Command('cairn');
registerSandboxCommand(program);
await program.parseAsync(['node', 'cairn', 'sandbox', ...process.argv.slice(2)]);
