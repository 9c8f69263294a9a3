// One node of a clustered MQTT 3.1.1 broker for the end-to-end tests: aedes with its
// message bus (mqemitter-redis) and its persistence (retained messages, wills, QoS 1
// subscriptions: aedes-persistence-redis) on a shared Redis server. Several nodes on one
// Redis server form one broker: a message published on any node reaches the subscribers of
// every node, retained messages are shared, and when a node dies the others publish the
// wills of its clients (after three missed heartbeats).
//
// With `local` as fifth argument retained messages are kept in the node's own memory instead of
// Redis (wills, sessions and QoS 1 state stay shared): messages still cross nodes, but a
// retained message is sent on subscribing only by the node it was published on, like RabbitMQ
// 3.x's MQTT plugin.
//
// Usage: node aedes-node.js <mqtt port> <redis port> <node id> [heartbeat ms] [local]
// Listens on 127.0.0.1 only; prints "listening <port>" once it accepts connections, and
// "client <id>" when a client has connected.
'use strict'

const net = require('net')

const [port, redisPort, id, heartbeat, store] = process.argv.slice(2)
if (!port || !redisPort || !id) {
  console.error('usage: node aedes-node.js <mqtt port> <redis port> <node id> [heartbeat ms] [local]')
  process.exit(2)
}
// QoS 1 acknowledged only once handed to the cluster (see puback-after-publish.js): loaded in
// place of aedes's own handler before aedes is.
const Module = require('module')
const handlerPath = require.resolve('aedes/lib/handlers/publish.js')
const handler = new Module(handlerPath)
handler.filename = handlerPath
handler.loaded = true
handler.exports = require('./puback-after-publish')
require.cache[handlerPath] = handler

const redis = { host: '127.0.0.1', port: Number(redisPort) }
// No ready check (INFO) on the bus connections: mqemitter-redis subscribes as soon as a
// connection is up, ioredis writes that SUBSCRIBE before its ready check, and the check's INFO
// is then refused in subscriber mode ("Connection in subscriber mode, only subscriber commands
// may be used", ioredis 5): the error reaches mqemitter-redis unhandled and the broker node
// dies. Seen under load in 2 of 11 runs of broker_cluster.rs.
const mq = require('mqemitter-redis')({ ...redis, enableReadyCheck: false })
const persistence = require('aedes-persistence-redis')(redis)
if (store === 'local') {
  // Retained messages in this node's memory only; wills, sessions and QoS 1 state stay shared.
  const local = require('aedes-persistence')()
  for (const f of ['storeRetained', 'createRetainedStream', 'createRetainedStreamCombi']) {
    persistence[f] = local[f].bind(local)
  }
}
// aedes numbers every publication per broker node and drops, per subscriber, one whose
// number is lower than one already delivered ("dedupe"). With Redis persistence a retained
// or QoS 1 publication takes extra round trips to Redis before it is emitted, so a later
// publication of the same client (a QoS 0 or non-retained one) overtakes it, and the
// retained one is then dropped as a "duplicate": a status published just before data is lost
// (aedes 0.51.3). mqemitter-redis delivers each publication once per node, so there are no
// duplicates to drop here; the counter check is switched off per client. Publications on
// different paths (retained or not, QoS 0 or 1) may still arrive out of order.
const noDedupe = new Proxy({}, { get: () => 0, set: () => true, deleteProperty: () => true })

const aedes = require('aedes')({
  id,
  mq,
  persistence,
  heartbeatInterval: Number(heartbeat || 1000),
  preConnect: (client, packet, callback) => {
    client.duplicates = noDedupe
    callback(null, true)
  }
})

// The tests see which node a client is on.
aedes.on('client', (client) => console.log(`client ${client.id}`))

aedes.on('clientError', (client, err) => {
  console.error(`client ${client && client.id}: ${err.message}`)
})

const server = net.createServer(aedes.handle)
server.on('error', (err) => {
  console.error(`listen 127.0.0.1:${port}: ${err.message}`)
  process.exit(1)
})
server.listen(Number(port), '127.0.0.1', () => {
  console.log(`listening ${port}`)
})

function stop () {
  server.close()
  aedes.close(() => process.exit(0))
}
process.on('SIGTERM', stop)
process.on('SIGINT', stop)
