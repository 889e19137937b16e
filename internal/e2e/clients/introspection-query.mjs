// Prints the standard introspection query of the installed graphql-js with
// every stable option on, with the comment header of
// internal/e2e/testdata/introspection-query.graphql, which holds its output:
//   node introspection-query.mjs > ../testdata/introspection-query.graphql
import { getIntrospectionQuery, version } from 'graphql';

process.stdout.write(
  `# The standard introspection query of graphql-js ${version}, every option on: getIntrospectionQuery({descriptions, specifiedByUrl, directiveIsRepeatable, schemaDescription, inputValueDeprecation, oneOf: true}).\n` +
    '# (experimentalDirectiveDeprecation is a proposal that gqlgen does not implement.) Regenerate with internal/e2e/clients: node introspection-query.mjs\n' +
    getIntrospectionQuery({
      descriptions: true,
      specifiedByUrl: true,
      directiveIsRepeatable: true,
      schemaDescription: true,
      inputValueDeprecation: true,
      oneOf: true,
    }),
);
