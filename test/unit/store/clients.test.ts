// Clients made from cluster resources: written and rewritten under their own source only, never over an app
// registered another way (on both engines: ON CONFLICT ... DO UPDATE ... WHERE).
import { describe, expect, test } from 'vitest';
import { clientSchema } from '../../../src/config.js';
import { findClient, insertClient, listClusterClientIds, upsertClusterClient } from '../../../src/store/clients.js';
import { openTestDb } from '../helpers.js';

const client = (id: string, name = 'App') => clientSchema.parse({ id, name, secret: 's'.repeat(43), redirectUris: ['https://app.example/cb'] });

describe('cluster clients', () => {
  test('are inserted, then replaced, under source cluster', async () => {
    const db = await openTestDb();
    await upsertClusterClient(db, client('apps.wiki'));
    await upsertClusterClient(db, client('apps.wiki', 'Wiki'));
    expect(await findClient(db, 'apps.wiki')).toMatchObject({ source: 'cluster', config: { id: 'apps.wiki', name: 'Wiki' } });
    expect(await listClusterClientIds(db)).toEqual(['apps.wiki']);
  });

  test('never replace an app registered with the CLI or the configuration: a conflict, the app left as it was', async () => {
    const db = await openTestDb();
    await insertClient(db, 'cli', client('apps.taken', 'Mine'));
    await expect(upsertClusterClient(db, client('apps.taken', 'Theirs'))).rejects.toMatchObject({ code: 'conflict' });
    expect(await findClient(db, 'apps.taken')).toMatchObject({ source: 'cli', config: { name: 'Mine' } });
    expect(await listClusterClientIds(db)).toEqual([]);
  });
});
