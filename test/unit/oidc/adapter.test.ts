// Runs the adapter contract suite against this run's engine: SQLite, or PostgreSQL in unit-postgres.
import { openTestDb, testEngine } from '../helpers.js';
import { adapterContract } from './adapter-contract.js';

adapterContract(testEngine, openTestDb);
