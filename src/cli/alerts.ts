// `accouch test-email <address>`: sends a test message through the configured mail server, so the owner sees
// that alert emails will arrive before one is needed.
import type { Command } from 'commander';
import { badRequest } from '../errors.js';
import { loadConfig } from '../config.js';

export function registerAlertCommands(program: Command): void {
  program.command('test-email')
    .description('send a test message through the configured mail server (smtp.*)')
    .argument('<address>', 'where to send it')
    .action(async (address: string) => {
      const config = loadConfig({ env: process.env });
      // nodemailer and web-push take most of a second to load: only this command pays for them.
      const { createMailer, sendTestEmail } = await import('../integrations/alert-channels.js');
      const mailer = await createMailer({ issuer: config.issuer, notify: config.notify, smtp: config.smtp, vapid: { publicKey: '', privateKey: '' } });
      if (!mailer) throw badRequest('email is not configured: set smtp.host (ACCOUCH_SMTP_HOST)');
      try {
        await sendTestEmail(mailer, config.issuer, address);
      } catch (error) {
        throw badRequest(`the mail server did not take the message: ${(error as Error).message}`);
      } finally {
        mailer.close();
      }
      console.log(`sent a test message to ${address} through ${config.smtp.host}:${config.smtp.port}`);
    });
}
