// aedes's PUBLISH handler (lib/handlers/publish.js of aedes 0.51.3) with one change: a QoS 1
// publication is acknowledged (PUBACK) only once it has been handed to the cluster (stored if
// retained, queued for offline subscribers, published on Redis). aedes sends the PUBACK
// first, so a node killed in between loses a message its publisher was told was taken over
// (a gateway then acknowledges the RTU's events, which are gone). QoS 2 is unchanged.
'use strict'

const write = require('aedes/lib/write')

function PubAck (packet) {
  this.cmd = 'puback'
  this.messageId = packet.messageId
}

function PubRec (packet) {
  this.cmd = 'pubrec'
  this.messageId = packet.messageId
}

function handlePublish (client, packet, done) {
  const topic = packet.topic
  if (topic.length === 0) {
    return done(new Error('empty topic not allowed in PUBLISH'))
  }
  if (topic.indexOf('#') > -1) {
    return done(new Error('# is not allowed in PUBLISH'))
  }
  if (topic.indexOf('+') > -1) {
    return done(new Error('+ is not allowed in PUBLISH'))
  }
  client.broker.authorizePublish(client, packet, function (err) {
    if (err) { return done(err) }
    enqueuePublish(client, packet, done)
  })
}

function enqueuePublish (client, packet, done) {
  switch (packet.qos) {
    case 2:
      client.broker.persistence.incomingStorePacket(client, packet, function (err) {
        if (err) { return done(err) }
        write(client, new PubRec(packet), done)
      })
      break
    case 1:
      client.broker.publish(packet, client, function (err) {
        if (err) { return done(err) }
        write(client, new PubAck(packet), done)
      })
      break
    case 0:
      client.broker.publish(packet, client, done)
      break
    default:
      done()
  }
}

module.exports = handlePublish
