/** The transport name of a broker URL (`redis`, `rediss`, `sentinel`, `amqp`, ...), as kombu's `driver_type` decides the event exchange type. */
export function transportOf(brokerUrl: string): string {
  const first = brokerUrl.split(';')[0]!.trim();
  const scheme = /^([a-z][a-z0-9+.-]*):/i.exec(first)?.[1]?.toLowerCase() ?? 'amqp';
  return scheme === 'pyamqp' || scheme === 'amqps' ? 'amqp' : scheme;
}
