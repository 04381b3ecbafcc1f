// The oidc-provider Adapter over the store: every model (sessions, codes, tokens, grants, ...) in one table.
import { errors, type Adapter, type AdapterPayload } from 'oidc-provider';
import type { Db } from '../store/db.js';
import { epoch } from '../store/db.js';
import {
  consumePayload, deletePayload, deletePayloadsByGrant, findPayload, grantIdOf, upsertPayload, type PayloadRow,
} from '../store/oidc-payloads.js';

function toPayload(row: PayloadRow | undefined): AdapterPayload | undefined {
  if (!row) return undefined;
  return row.consumedAt === null ? row.payload : { ...row.payload, consumed: row.consumedAt };
}

/** Builds the adapter class oidc-provider instantiates once per model name. */
export function createAdapterClass(db: Db) {
  return class StoreAdapter implements Adapter {
    constructor(readonly model: string) {}

    async upsert(id: string, payload: AdapterPayload, expiresIn?: number): Promise<void> {
      await upsertPayload(db, this.model, id, payload as Record<string, unknown>, expiresIn ? epoch() + expiresIn : null);
    }

    async find(id: string): Promise<AdapterPayload | undefined> {
      return toPayload(await findPayload(db, this.model, 'id', id));
    }

    async findByUid(uid: string): Promise<AdapterPayload | undefined> {
      return toPayload(await findPayload(db, this.model, 'uid', uid));
    }

    async findByUserCode(userCode: string): Promise<AdapterPayload | undefined> {
      return toPayload(await findPayload(db, this.model, 'user_code', userCode));
    }

    /**
     * Consumes atomically: of two concurrent redemptions exactly one succeeds; the loser is treated as
     * reuse, so the grant is revoked, as oidc-provider does when it sees an already consumed artefact.
     */
    async consume(id: string): Promise<void> {
      if (await consumePayload(db, this.model, id)) return;
      const grantId = await grantIdOf(db, this.model, id);
      if (grantId) await Promise.all([deletePayloadsByGrant(db, grantId), deletePayload(db, 'Grant', grantId)]);
      throw new errors.InvalidGrant(`${this.model} already consumed`);
    }

    async destroy(id: string): Promise<void> {
      await deletePayload(db, this.model, id);
    }

    async revokeByGrantId(grantId: string): Promise<void> {
      await deletePayloadsByGrant(db, grantId, this.model);
    }
  };
}
