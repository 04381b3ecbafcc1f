// Runs the adapter contract suite against SQLite.
import { openTestDb } from '../helpers.js';
import { adapterContract } from './adapter-contract.js';

adapterContract('SQLite', openTestDb);
