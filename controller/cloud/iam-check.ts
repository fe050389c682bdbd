/**
 * A small, pure IAM policy evaluator: enough to answer whether an EC2 call the controller made
 * (as an emulator recorded it) is allowed by `packaging/iam/controller-policy.json`.
 *
 * What it evaluates: identity-based policies with Allow and Deny statements; `Action` and
 * `Resource` (and `NotAction`/`NotResource`) with `*` and `?` wildcards; the condition operators
 * StringEquals, StringNotEquals, StringLike, StringNotLike, StringEqualsIgnoreCase, Bool, Null,
 * each with `IfExists`, and the `ForAllValues:` / `ForAnyValue:` set qualifiers. An explicit
 * Deny wins, then any Allow, else the implicit deny. Any other operator throws rather than guess.
 * What it does not: resource policies, SCPs, permission boundaries, policy variables.
 *
 * `authorizationsFor(call)` expands one EC2 API call into the authorizations AWS makes for it
 * (RunInstances authorizes the instance, image, subnet, network interface, security group and
 * volume, the CreateTags of its tag specifications with `ec2:CreateAction`, `iam:PassRole` for
 * the instance profile's role and `ssm:GetParameters` for a `resolve:ssm:` image).
 */

export type ConditionValue = string | boolean | number | Array<string | boolean | number>

export interface PolicyStatement {
  Sid?: string
  Effect: 'Allow' | 'Deny'
  Action?: string | string[]
  NotAction?: string | string[]
  Resource?: string | string[]
  NotResource?: string | string[]
  Condition?: Record<string, Record<string, ConditionValue>>
}

export interface PolicyDocument {
  Version?: string
  Statement: PolicyStatement | PolicyStatement[]
}

export interface AuthorizationRequest {
  /** `service:Action`, e.g. `ec2:RunInstances`. */
  action: string
  /** An ARN, `*` for actions without resource-level permissions. */
  resource: string
  /** Condition keys → values (`aws:RequestTag/stampede:fleet`, `aws:TagKeys`, …). */
  context: Record<string, string | string[]>
}

export interface Decision {
  allowed: boolean
  /** `explicit-deny`, `allow` or `implicit-deny`. */
  reason: 'allow' | 'explicit-deny' | 'implicit-deny'
  /** The Sid (or index) of the statement that decided, for allow and explicit deny. */
  statement?: string
}

export function evaluate(policy: PolicyDocument, request: AuthorizationRequest): Decision {
  const statements = Array.isArray(policy.Statement) ? policy.Statement : [policy.Statement]
  let allow: string | undefined
  for (const [index, statement] of statements.entries()) {
    if (!statementApplies(statement, request)) continue
    const name = statement.Sid ?? `#${index}`
    if (statement.Effect === 'Deny') return { allowed: false, reason: 'explicit-deny', statement: name }
    allow ??= name
  }
  return allow === undefined
    ? { allowed: false, reason: 'implicit-deny' }
    : { allowed: true, reason: 'allow', statement: allow }
}

export function isAllowed(policy: PolicyDocument, request: AuthorizationRequest): boolean {
  return evaluate(policy, request).allowed
}

function statementApplies(s: PolicyStatement, r: AuthorizationRequest): boolean {
  const action = (patterns: string | string[]) => list(patterns).some((p) => wildcard(p, r.action, true))
  const resource = (patterns: string | string[]) => list(patterns).some((p) => wildcard(p, r.resource, false))
  if (s.Action !== undefined && !action(s.Action)) return false
  if (s.NotAction !== undefined && action(s.NotAction)) return false
  if (s.Action === undefined && s.NotAction === undefined) return false
  if (s.Resource !== undefined && !resource(s.Resource)) return false
  if (s.NotResource !== undefined && resource(s.NotResource)) return false
  for (const [operator, entries] of Object.entries(s.Condition ?? {})) {
    for (const [key, expected] of Object.entries(entries)) {
      if (!condition(operator, lookup(r.context, key), list(expected).map(String))) return false
    }
  }
  return true
}

/** Condition keys are case-insensitive; their values are not. */
function lookup(context: Record<string, string | string[]>, key: string): string[] | undefined {
  const lower = key.toLowerCase()
  for (const [k, v] of Object.entries(context)) if (k.toLowerCase() === lower) return list(v)
  return undefined
}

function condition(operator: string, actual: string[] | undefined, expected: string[]): boolean {
  let op = operator
  let set: 'all' | 'any' | undefined
  if (op.startsWith('ForAllValues:')) [set, op] = ['all', op.slice('ForAllValues:'.length)]
  else if (op.startsWith('ForAnyValue:')) [set, op] = ['any', op.slice('ForAnyValue:'.length)]
  const ifExists = op.endsWith('IfExists')
  if (ifExists) op = op.slice(0, -'IfExists'.length)

  if (op === 'Null') {
    const absent = actual === undefined || actual.length === 0
    return expected.some((e) => (e === 'true') === absent)
  }
  const matchOne = MATCHERS[op]
  if (!matchOne) throw new Error(`iam-check: condition operator ${operator} is not supported`)
  const negated = op.includes('Not')
  const matches = (value: string) => expected.some((e) => matchOne(e, value))

  if (set === 'all') return (actual ?? []).every((v) => (negated ? !matches(v) : matches(v)))
  if (set === 'any') return (actual ?? []).some((v) => (negated ? !matches(v) : matches(v)))
  if (actual === undefined || actual.length === 0) return ifExists || negated
  return negated ? !actual.some(matches) : actual.some(matches)
}

const MATCHERS: Record<string, (expected: string, actual: string) => boolean> = {
  StringEquals: (e, a) => e === a,
  StringNotEquals: (e, a) => e === a,
  StringEqualsIgnoreCase: (e, a) => e.toLowerCase() === a.toLowerCase(),
  StringNotEqualsIgnoreCase: (e, a) => e.toLowerCase() === a.toLowerCase(),
  StringLike: (e, a) => wildcard(e, a, false),
  StringNotLike: (e, a) => wildcard(e, a, false),
  Bool: (e, a) => e.toLowerCase() === a.toLowerCase(),
}

function wildcard(pattern: string, value: string, ignoreCase: boolean): boolean {
  const source = pattern
    .replace(/[.+^${}()|[\]\\]/g, '\\$&')
    .replaceAll('*', '.*')
    .replaceAll('?', '.')
  return new RegExp(`^${source}$`, ignoreCase ? 'is' : 's').test(value)
}

function list<T>(value: T | T[] | undefined): T[] {
  return value === undefined ? [] : Array.isArray(value) ? value : [value]
}

// ── EC2 calls → authorizations ────────────────────────────────────────────────

/** An EC2 call as an emulator records it (structurally: `emulators/ec2.ts`'s `Ec2Call` fits). */
export interface Ec2CallForIam {
  action: string
  region: string
  params?: Record<string, string>
  tagSpecifications?: Array<{ resourceType: string; tags: Record<string, string> }>
  requestTags?: Record<string, string>
  resources?: Array<{ id: string; tags: Record<string, string> }>
  imageId?: string
  instanceProfile?: string
  subnetId?: string
}

export interface IamAccount {
  account: string
  /** The role behind an instance profile (name or ARN); default: a role of the profile's name. */
  roleOfInstanceProfile?: (profile: string) => string
}

const RUN_INSTANCES_RESOURCES = ['network-interface', 'security-group', 'subnet', 'volume'] as const

export function authorizationsFor(call: Ec2CallForIam, account: IamAccount): AuthorizationRequest[] {
  const { region } = call
  const ec2 = (type: string, id: string) => `arn:aws:ec2:${region}:${account.account}:${type}/${id}`
  const action = `ec2:${call.action}`
  switch (call.action) {
    case 'RunInstances': {
      const specs = call.tagSpecifications ?? []
      const tagsFor = (type: string) =>
        Object.assign({}, ...specs.filter((s) => s.resourceType === type).map((s) => s.tags)) as Record<
          string,
          string
        >
      const requests: AuthorizationRequest[] = []
      const instanceContext: Record<string, string | string[]> = requestTagContext(tagsFor('instance'))
      const httpTokens = call.params?.['MetadataOptions.HttpTokens']
      if (httpTokens !== undefined) instanceContext['ec2:MetadataHttpTokens'] = httpTokens
      requests.push({ action, resource: ec2('instance', '*'), context: instanceContext })
      const image = call.imageId ?? '*'
      requests.push({
        action,
        resource: `arn:aws:ec2:${region}::image/${image.startsWith('ami-') ? image : '*'}`,
        context: {},
      })
      for (const type of RUN_INSTANCES_RESOURCES) {
        const id = type === 'subnet' && call.subnetId ? call.subnetId : '*'
        requests.push({
          action,
          resource: ec2(type, id),
          context: type === 'volume' ? requestTagContext(tagsFor('volume')) : {},
        })
      }
      for (const spec of specs) {
        requests.push({
          action: 'ec2:CreateTags',
          resource: ec2(spec.resourceType, '*'),
          context: { 'ec2:CreateAction': 'RunInstances', ...requestTagContext(spec.tags) },
        })
      }
      if (call.instanceProfile !== undefined) {
        const role =
          account.roleOfInstanceProfile?.(call.instanceProfile) ??
          call.instanceProfile.slice(call.instanceProfile.lastIndexOf('/') + 1)
        requests.push({
          action: 'iam:PassRole',
          resource: role.startsWith('arn:') ? role : `arn:aws:iam::${account.account}:role/${role}`,
          context: { 'iam:PassedToService': 'ec2.amazonaws.com' },
        })
      }
      if (image.startsWith('resolve:ssm:')) {
        const name = image.slice('resolve:ssm:'.length).replace(/:\d+$/, '')
        requests.push({
          action: 'ssm:GetParameters',
          resource: `arn:aws:ssm:${region}::parameter/${name.replace(/^\//, '')}`,
          context: {},
        })
      }
      return requests
    }
    case 'TerminateInstances':
      return (call.resources ?? []).map((r) => ({
        action,
        resource: ec2('instance', r.id),
        context: resourceTagContext(r.tags),
      }))
    case 'CreateTags':
      return (call.resources ?? []).map((r) => ({
        action,
        resource: ec2('instance', r.id),
        context: { ...resourceTagContext(r.tags), ...requestTagContext(call.requestTags ?? {}) },
      }))
    default:
      return [{ action, resource: '*', context: {} }]
  }
}

export interface CallCheck {
  allowed: boolean
  /** The authorizations the policy refused, with the reason. */
  denied: Array<AuthorizationRequest & { reason: Decision['reason'] }>
}

/** Is every authorization that this EC2 call needs allowed by the policy? */
export function checkCall(policy: PolicyDocument, call: Ec2CallForIam, account: IamAccount): CallCheck {
  const denied = authorizationsFor(call, account).flatMap((request) => {
    const decision = evaluate(policy, request)
    return decision.allowed ? [] : [{ ...request, reason: decision.reason }]
  })
  return { allowed: denied.length === 0, denied }
}

function requestTagContext(tags: Record<string, string>): Record<string, string | string[]> {
  const context: Record<string, string | string[]> = {}
  const keys = Object.keys(tags)
  if (keys.length === 0) return context
  for (const [k, v] of Object.entries(tags)) context[`aws:RequestTag/${k}`] = v
  context['aws:TagKeys'] = keys
  return context
}

function resourceTagContext(tags: Record<string, string>): Record<string, string> {
  const context: Record<string, string> = {}
  for (const [k, v] of Object.entries(tags)) context[`ec2:ResourceTag/${k}`] = v
  return context
}

/**
 * Fills a policy template's `{{name}}` placeholders (the files in packaging/iam/ use
 * `{{account}}`, `{{fleet}}`, `{{engineRole}}`, `{{artifactBucket}}`, `{{artifactKey}}`,
 * `{{credentialsParameter}}`). A placeholder without a value throws.
 */
export function renderPolicy(template: string | object, values: Record<string, string>): PolicyDocument {
  const text = typeof template === 'string' ? template : JSON.stringify(template)
  const rendered = text.replace(/\{\{(\w+)\}\}/g, (_, name: string) => {
    const value = values[name]
    if (value === undefined) throw new Error(`policy placeholder {{${name}}} has no value`)
    return JSON.stringify(value).slice(1, -1)
  })
  return JSON.parse(rendered) as PolicyDocument
}
