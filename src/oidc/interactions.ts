// The only caller of oidc-provider's interactionDetails/Result/Finished: an interaction in, a plain
// SignInRequest (client, network, required strength, hints) and the pending sign-in out; a Step's outcome back
// in as the interaction's result. Also the one place the strength of an authorization request is computed
// from a client and its parameters, for the login check (provider.ts) and the sign-in pages alike.
import type { IncomingMessage, ServerResponse } from 'node:http';
import { errors, type default as Provider } from 'oidc-provider';
import type { Network, NetworkClassifier } from '../auth/network.js';
import { requiredStrength, type AppPolicy, type Requirement, type Strength } from '../auth/policy.js';
import type { PendingSignIn, SignInRequest } from '../auth/sign-in/types.js';

type Client = InstanceType<Provider['Client']>;

/** An app's own policy and groups, from the metadata oidc/clients.ts gave it. */
export function appPolicyOf(client: Client | undefined): AppPolicy {
  const policy = client?.['accouch_policy'] as Partial<Record<Network, Strength>> | undefined;
  const groups = client?.['accouch_allowed_groups'];
  return { policy, allowedGroups: Array.isArray(groups) ? groups.map(String) : [] };
}

/** requiredStrength for an authorization request: its network, the global policy, its client and acr_values. */
export function strengthOf(input: { network: Network; globalPolicy: Record<Network, Strength>; client: Client | undefined; acrValues: unknown }): Requirement {
  return requiredStrength({
    network: input.network, globalPolicy: input.globalPolicy, clientPolicy: appPolicyOf(input.client).policy,
    acrValues: typeof input.acrValues === 'string' ? input.acrValues : undefined,
  });
}

/** One interaction, as the sign-in pages need it. */
export interface LoadedInteraction {
  uid: string;
  /** What oidc-provider asks for: 'login' or 'consent'. */
  prompt: string;
  request: SignInRequest;
  pending: PendingSignIn | undefined;
  /** The signed-in account (consent). */
  accountId: string | undefined;
  /** The scopes the app asked for. */
  scopes: string[];
  /** The app is the household's own and skips the consent page. */
  skipConsent: boolean;
}

export interface InteractionsDeps {
  provider: () => Provider;
  classifier: NetworkClassifier;
  globalPolicy: Record<Network, Strength>;
}

type Http = { req: IncomingMessage; res: ServerResponse };
type Interaction = Awaited<ReturnType<Provider['interactionDetails']>>;

export function createInteractions({ provider, classifier, globalPolicy }: InteractionsDeps) {
  const raw = new WeakMap<LoadedInteraction, Interaction>();

  /** The interaction of this browser for page `uid`; undefined when it has expired or belongs elsewhere. */
  async function load({ req, res }: Http, uid: string): Promise<LoadedInteraction | undefined> {
    let interaction: Interaction;
    try {
      interaction = await provider().interactionDetails(req, res);
      if (interaction.uid !== uid) return undefined;
    } catch (error) {
      if (error instanceof errors.SessionNotFound || error instanceof errors.InvalidRequest) return undefined;
      throw error;
    }
    const clientId = String(interaction.params.client_id);
    const client = await provider().Client.find(clientId);
    const { ip, network } = classifier.ofRequest(req);
    const loginHint = interaction.params.login_hint;
    const loaded: LoadedInteraction = {
      uid: interaction.uid,
      prompt: interaction.prompt.name,
      request: {
        id: interaction.uid, clientId, clientName: client?.clientName ?? clientId, network, ip,
        required: strengthOf({ network, globalPolicy, client, acrValues: interaction.params.acr_values }),
        app: appPolicyOf(client),
        loginHint: typeof loginHint === 'string' && loginHint ? loginHint : undefined,
      },
      pending: (interaction.result as { accouch?: PendingSignIn } | undefined)?.accouch,
      accountId: interaction.session?.accountId,
      scopes: String(interaction.params.scope ?? '').split(' ').filter(Boolean),
      skipConsent: Boolean(client?.['accouch_skip_consent']),
    };
    raw.set(loaded, interaction);
    return loaded;
  }

  /** Keeps what has been proven so far with the interaction, for the next step. */
  async function savePending(loaded: LoadedInteraction, pending: PendingSignIn): Promise<void> {
    const interaction = raw.get(loaded)!;
    interaction.result = { accouch: pending };
    await interaction.save(Math.max(1, (interaction.exp ?? 0) - Math.floor(Date.now() / 1000)));
  }

  /** Finishes the login prompt; returns where to send the browser. */
  function login({ req, res }: Http, login: { accountId: string; amr: string[]; acr: string; ts: number }): Promise<string> {
    return provider().interactionResult(req, res, { login: { ...login, remember: true } }, { mergeWithLastSubmission: false });
  }

  /** Ends the interaction with access_denied and a description for the app; returns where to send the browser. */
  function deny({ req, res }: Http, description: string): Promise<string> {
    return provider().interactionResult(req, res, { error: 'access_denied', error_description: description }, { mergeWithLastSubmission: false });
  }

  /** Grants what the consent prompt is missing (scopes, claims) and finishes it; returns where to go. */
  async function consent({ req, res }: Http, loaded: LoadedInteraction): Promise<string> {
    const interaction = raw.get(loaded)!;
    const { prompt: { details: missing }, params, session, grantId } = interaction;
    if (!session) throw new errors.SessionNotFound('no session');
    const p = provider();
    const grant = grantId ? await p.Grant.find(grantId) : new p.Grant({ accountId: session.accountId, clientId: String(params.client_id) });
    if (!grant) throw new errors.SessionNotFound('grant expired');
    if (Array.isArray(missing.missingOIDCScope)) grant.addOIDCScope(missing.missingOIDCScope.join(' '));
    if (Array.isArray(missing.missingOIDCClaims)) grant.addOIDCClaims(missing.missingOIDCClaims);
    if (missing.missingResourceScopes && typeof missing.missingResourceScopes === 'object') {
      for (const [indicator, scopes] of Object.entries(missing.missingResourceScopes as Record<string, string[]>)) {
        grant.addResourceScope(indicator, scopes.join(' '));
      }
    }
    const savedId = await grant.save();
    return p.interactionResult(req, res, { consent: grantId ? {} : { grantId: savedId } }, { mergeWithLastSubmission: true });
  }

  /** The name an app shows (the account page's list of apps); the id when it is gone. */
  async function clientName(clientId: string): Promise<string> {
    const client = await provider().Client.find(clientId).catch(() => undefined);
    return client?.clientName ?? clientId;
  }

  return { load, savePending, login, deny, consent, clientName };
}

/** The port the HTTP layer receives (main.ts wires it). */
export type Interactions = ReturnType<typeof createInteractions>;
