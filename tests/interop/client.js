// Independent OPC UA client (node-opcua): browse the biotwin plant, read a value with its
// engineering units, call an operator method. Prints one JSON object on stdout.
const { OPCUAClient, AttributeIds, DataType, MessageSecurityMode, SecurityPolicy } = require("node-opcua-client");

async function main() {
  const url = process.argv[2];
  const client = OPCUAClient.create({ endpointMustExist: false, securityMode: MessageSecurityMode.None,
    securityPolicy: SecurityPolicy.None, connectionStrategy: { maxRetry: 3 } });
  await client.connect(url);
  const session = await client.createSession();
  const nsArray = (await session.read({ nodeId: "ns=0;i=2255", attributeId: AttributeIds.Value })).value.value;
  const idx = nsArray.indexOf("urn:biotwin:plant");
  const browse = await session.browse(`ns=${idx};s=Site1.Upstream.BR01`);
  const names = browse.references.map((r) => r.browseName.name);
  let value = null;
  for (let i = 0; i < 50 && (value === null || value.statusCode.name !== "Good"); i++) {
    value = await session.read({ nodeId: `ns=${idx};s=Site1.Upstream.BR01.pH`, attributeId: AttributeIds.Value });
    if (value.statusCode.name !== "Good") await new Promise((r) => setTimeout(r, 200));
  }
  const eu = await session.read({ nodeId: `ns=${idx};s=Site1.Upstream.BR01.pH.EngineeringUnits`,
    attributeId: AttributeIds.Value });
  const range = await session.read({ nodeId: `ns=${idx};s=Site1.Upstream.BR01.pH.EURange`,
    attributeId: AttributeIds.Value });
  const call = await session.call({ objectId: `ns=${idx};s=Site1.Upstream.BR01`,
    methodId: `ns=${idx};s=Site1.Upstream.BR01.ChangeSetpoint`,
    inputArguments: [{ dataType: DataType.String, value: "DO" }, { dataType: DataType.Double, value: 45.0 }] });
  console.log(JSON.stringify({ names, ph: value.value.value, status: value.statusCode.name,
    eu: eu.value.value.displayName.text, low: range.value.value.low, high: range.value.value.high,
    call_status: call.statusCode.name, call_result: call.outputArguments.map((a) => a.value) }));
  await session.close();
  await client.disconnect();
}
main().catch((e) => { console.error(e); process.exit(1); });
