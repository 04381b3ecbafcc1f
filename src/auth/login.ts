// Looking a user up for the sign-in pages. The password step itself is a factor like the others:
// passwordFactor in auth/sign-in/flow.ts, run by runFactor (throttle → verify → audit → nextStep).
import type { Db } from '../store/db.js';
import { findUserById } from '../store/users.js';

/** Looks a user up for the pages (display name on the consent page). */
export const findUser = (db: Db, id: string) => findUserById(db, id);
