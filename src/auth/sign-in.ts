// Kept for code written against it before the sign-in moved into auth/sign-in/ (forward-auth is built in
// parallel on this name): new code imports auth/sign-in/*. Remove once nothing imports it.
export {
  activeUser, completeSignIn, decide, factorsOf, recordFailedStep, type Decision, type PendingSignIn, type SecondFactor, type UserFactors,
} from './sign-in/factors.js';
