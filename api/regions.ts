/** blitz's region names and the AWS regions they were. */
export const BLITZ_REGIONS: Record<string, string> = {
  california: 'us-west-1',
  oregon: 'us-west-2',
  virginia: 'us-east-1',
  singapore: 'ap-southeast-1',
  ireland: 'eu-west-1',
  japan: 'ap-northeast-1',
  germany: 'eu-central-1',
}
