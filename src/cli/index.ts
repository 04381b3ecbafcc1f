// The `accouch` command line: one Command tree, one place that turns errors into messages and exit codes.
import { Command, CommanderError } from 'commander';
import { ConfigError } from '../config.js';
import { AppError } from '../errors.js';
import { registerAlertCommands } from './alerts.js';
import { registerAppCommands } from './apps.js';
import { registerClientCommands } from './clients.js';
import { registerDataCommands } from './data.js';
import { registerKeyCommands } from './keys.js';
import { registerKubeCommands } from './kube.js';
import { registerSetupCommands } from './setup.js';
import { registerUserCommands } from './users.js';

export function createCli({ serve, version }: { serve: () => Promise<void>; version: string }): Command {
  const program = new Command('accouch')
    .description('Accouch: the one login for your home cloud (an OpenID Connect provider)')
    .version(version)
    .showHelpAfterError()
    .exitOverride();
  program.command('serve', { isDefault: true }).description('run the server').action(serve);
  registerUserCommands(program);
  registerClientCommands(program);
  registerAppCommands(program);
  registerKeyCommands(program);
  registerSetupCommands(program);
  registerKubeCommands(program);
  registerDataCommands(program);
  registerAlertCommands(program);
  return program;
}

/** Runs the CLI and maps failures to a message on stderr and a non-zero exit code. */
export async function runCli(program: Command, argv: string[]): Promise<void> {
  try {
    await program.parseAsync(argv);
  } catch (error) {
    if (error instanceof CommanderError) {
      process.exitCode = error.exitCode;
      return;
    }
    if (error instanceof ConfigError) {
      console.error(error.message);
      process.exitCode = 2;
      return;
    }
    if (error instanceof AppError && error.expose) {
      console.error(`error: ${error.message}`);
      process.exitCode = 1;
      return;
    }
    console.error('error:', error);
    process.exitCode = 1;
  }
}
