// The Bot Framework JavaScript SDK's echo bot (the official 02.echo-bot
// sample: botbuilder's CloudAdapter behind restify), which
// bench/side-by-side.sh runs against the same load as jitbot.
//
// Token validation is on: ConfigurationBotFrameworkAuthentication validates
// every activity's token against the OpenID metadata and keys named by
// ToBotFromChannelOpenIdMetadataUrl (the load tool's fakes), and the replies
// go to the activity's serviceUrl with a token MSAL gets from
// ToChannelFromBotLoginUrl.
// The settings come from the environment the load tool writes (-write-config
// <file>, then <file>.env); PORT is the port to listen on, on 127.0.0.1.
'use strict';

const { ConfidentialClientApplication } = require('@azure/msal-node');
const restify = require('restify');
const {
    ActivityHandler,
    CloudAdapter,
    ConfigurationBotFrameworkAuthentication,
    MessageFactory,
} = require('botbuilder');
const { MsalServiceClientCredentialsFactory } = require('botframework-connector');

class EchoBot extends ActivityHandler {
    constructor() {
        super();
        this.onMessage(async (context, next) => {
            const replyText = `Echo: ${context.activity.text}`;
            await context.sendActivity(MessageFactory.text(replyText, replyText));
            await next();
        });
    }
}

for (const key of ['MicrosoftAppId', 'MicrosoftAppPassword', 'ToBotFromChannelOpenIdMetadataUrl', 'ToChannelFromBotLoginUrl', 'PORT']) {
    if (!process.env[key]) {
        console.error(`${key} is not set (see bench/side-by-side.sh)`);
        process.exit(2);
    }
}

// The bot's own token comes from MSAL, as in botbuilder's default
// credentials factory; the authority is the load tool's fake of Entra ID,
// named as a known authority so that MSAL does not ask the public cloud's
// instance discovery about it.
const authority = new URL(process.env.ToChannelFromBotLoginUrl);
const msal = new ConfidentialClientApplication({
    auth: {
        clientId: process.env.MicrosoftAppId,
        clientSecret: process.env.MicrosoftAppPassword,
        authority: authority.href,
        knownAuthorities: [authority.host],
    },
});
const credentials = new MsalServiceClientCredentialsFactory(process.env.MicrosoftAppId, msal);
const auth = new ConfigurationBotFrameworkAuthentication(process.env, credentials);
const adapter = new CloudAdapter(auth);
adapter.onTurnError = async (context, error) => {
    console.error(`[onTurnError] ${error}`);
};
const bot = new EchoBot();

const server = restify.createServer();
server.use(restify.plugins.bodyParser());
server.post('/api/messages', async (req, res) => {
    await adapter.process(req, res, (context) => bot.run(context));
});
server.listen(Number(process.env.PORT), '127.0.0.1', () => {
    console.log(`echo bot listening on ${server.url}`);
});
